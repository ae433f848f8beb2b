"""The integrations API: a ModelViewSet plus the ``update-structure`` action."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .models import Site, SiteIntegration
from .serializers import SiteIntegrationSerializer, StructureSerializer


class SiteIntegrationViewSet(viewsets.ModelViewSet):
    """The authenticated site's integrations; another site's are 404.

    ``?site=<id>`` filters as django-filter's ``filterset_fields = ["site"]`` would:
    through a ``ModelChoiceField`` over all sites, so an unknown or non-numeric id is
    a 400 ``{"site": ["Select a valid choice. ..."]}`` (on list and detail alike).
    """

    serializer_class = SiteIntegrationSerializer

    def get_queryset(self):
        queryset = SiteIntegration.objects.filter(site=self.request.user).order_by("id")
        raw = self.request.query_params.get("site")
        field = forms.ModelChoiceField(queryset=Site.objects.all(), required=False)
        try:
            site = field.clean(raw)
        except DjangoValidationError as exc:
            raise ValidationError({"site": exc.messages}) from None
        if site is not None:
            queryset = queryset.filter(site=site)
        return queryset

    def perform_create(self, serializer):
        serializer.save(site=self.request.user)

    @action(
        detail=True,
        methods=["post"],
        url_path="update-structure",
        serializer_class=StructureSerializer,
    )
    def update_structure(self, request, pk=None):
        integration = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration.structure = serializer.validated_data
        integration.last_structure_fetch = timezone.now()
        integration.save(update_fields=["structure", "last_structure_fetch", "updated_at"])
        data = serializer.validated_data
        return Response(
            {
                "success": True,
                "data": {
                    "message": "Site structure updated successfully",
                    "post_types_count": len(data["post_types"]),
                    "taxonomies_count": len(data["taxonomies"]),
                    "last_structure_fetch": serializers.DateTimeField().to_representation(
                        integration.last_structure_fetch
                    ),
                },
            }
        )
