"""Serializers: integrations, and the structure payload checked as CONTRACT.md §3 says.

DRF's own fields coerce (``"5"`` → 5, ``"yes"`` → True, 5 → ``"5"``) and its
serializers ignore unknown keys; the strict fields and ``StrictSerializer`` below
do neither, so a payload is accepted only in exactly the contract's shape.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from .models import SiteIntegration


class SiteIntegrationSerializer(serializers.ModelSerializer):
    class Meta:
        model = SiteIntegration
        fields = [
            "id",
            "site",
            "platform",
            "is_active",
            "last_structure_fetch",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "site", "last_structure_fetch", "created_at", "updated_at"]


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class NonEmptyStringField(serializers.CharField):
    """A JSON string that is not blank, kept exactly as sent (no trimming)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if not data.strip():
            self.fail("blank")
        return super().to_internal_value(data)


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)


class UtcTimestampField(serializers.Field):
    default_error_messages = {
        "invalid": "Must be an ISO 8601 UTC timestamp with seconds, ending in Z "
        "(like 2025-11-22T10:00:00Z).",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or not TIMESTAMP.fullmatch(data):
            self.fail("invalid")
        try:
            dt.datetime.strptime(data, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class StrictSerializer(serializers.Serializer):
    """Rejects keys it does not declare, alongside DRF's own field errors."""

    default_error_messages = {"unexpected": "Unexpected field."}

    def to_internal_value(self, data):
        unexpected = {}
        if isinstance(data, Mapping):
            unexpected = {
                key: [ErrorDetail(self.error_messages["unexpected"], code="unexpected")]
                for key in data
                if key not in self.fields
            }
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            if unexpected and isinstance(exc.detail, dict):
                raise ValidationError({**exc.detail, **unexpected}) from None
            raise
        if unexpected:
            raise ValidationError(unexpected)
        return value


class StructureEntrySerializer(StrictSerializer):
    label = NonEmptyStringField()
    count = StrictIntegerField(min_value=0)
    enabled = StrictBooleanField()
    fetch_limit = StrictIntegerField(min_value=1)


class StructureSerializer(StrictSerializer):
    post_types = serializers.DictField(child=StructureEntrySerializer())
    taxonomies = serializers.DictField(child=StructureEntrySerializer())
    plugin_connection_enabled = StrictBooleanField()
    two_way_sync_enabled = StrictBooleanField()
    timestamp = UtcTimestampField()
