import pytest
from django.conf import settings
from django.test import override_settings

from admin_reports.conf import DEFAULTS, app_settings


def test_defaults_apply_when_unset():
    with override_settings():
        del settings.ADMIN_REPORTS_DIRS
        app_settings.reload()  # deleting a setting sends no setting_changed
        assert app_settings.DIRS == DEFAULTS["DIRS"]
    app_settings.reload()
    assert app_settings.DIRS == settings.ADMIN_REPORTS_DIRS


def test_override_settings_is_seen_and_undone():
    before = app_settings.DIRS
    with override_settings(ADMIN_REPORTS_DIRS=["/somewhere/else"]):
        assert app_settings.DIRS == ["/somewhere/else"]
    assert app_settings.DIRS == before


def test_unknown_setting_is_an_attribute_error():
    with pytest.raises(AttributeError, match="Invalid admin_reports setting: 'NOPE'"):
        app_settings.NOPE  # noqa: B018
