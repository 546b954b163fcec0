from django.contrib import admin
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from admin_reports.admin import ReportActionMixin

from .models import Category, Customer, Order, OrderLine, Product, Region


class ProductResource(resources.ModelResource):
    """Products by SKU, their category by name."""

    category = fields.Field(
        attribute="category",
        column_name="category",
        widget=widgets.ForeignKeyWidget(Category, "name"),
    )

    class Meta:
        model = Product
        import_id_fields = ["sku"]
        fields = ["sku", "name", "category", "price", "active"]
        skip_unchanged = True


@admin.register(Region)
class RegionAdmin(ReportActionMixin, admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "region"]
    list_filter = ["region"]
    list_select_related = ["region"]
    search_fields = ["name", "email"]
    list_per_page = 50


@admin.register(Product)
class ProductAdmin(ReportActionMixin, ImportExportModelAdmin):
    """Report actions beside django-import-export's import and export buttons."""

    resource_classes = [ProductResource]
    list_display = ["sku", "name", "category", "price", "active"]
    list_filter = ["category", "active"]
    list_select_related = ["category"]
    search_fields = ["sku", "name"]
    ordering = ["sku"]
    # Fewer than the demo's 48 products a page: ticking the page offers "Select all 48".
    list_per_page = 20


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    raw_id_fields = ["product"]
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "placed_at", "customer", "status"]
    list_filter = ["status"]
    list_select_related = ["customer"]
    search_fields = ["=id", "customer__name", "customer__email"]
    raw_id_fields = ["customer"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline]
    list_per_page = 50
    # Counting millions of orders on every page view is the slowest part of the page.
    show_full_result_count = False


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "product", "quantity", "unit_price"]
    list_select_related = ["order", "product"]
    search_fields = ["=order__id", "product__sku"]
    raw_id_fields = ["order", "product"]
    list_per_page = 50
    show_full_result_count = False
