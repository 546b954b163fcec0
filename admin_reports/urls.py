"""URLs of the app; the demo includes them at admin/reports/."""

from django.urls import path

from . import views

app_name = "admin_reports"

urlpatterns = [
    path("<slug:name>/download/", views.download, name="download"),
]
