from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "tests.support.drf_backend.integration"
    label = "integration"
    default_auto_field = "django.db.models.BigAutoField"
