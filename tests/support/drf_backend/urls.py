"""URLs: the integrations API under /api/v1/integration/, as IGNY8 has it."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from tests.support.drf_backend.integration.views import SiteIntegrationViewSet

router = DefaultRouter()
router.register("integrations", SiteIntegrationViewSet, basename="integration")

urlpatterns = [
    path("api/v1/integration/", include(router.urls)),
]
