"""Sites (each with its API key) and their integrations with a CMS or shop platform.

The launcher seeds and reads these tables with plain SQL (``integration_site``,
``integration_siteintegration``), so a change here needs the same change there
and a migration.
"""

from __future__ import annotations

from django.db import models


class Site(models.Model):
    name = models.CharField(max_length=255, blank=True, default="")
    api_key = models.CharField(max_length=255, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or f"site {self.pk}"

    # The authenticated "user" of a request is its site (see authentication.py).
    @property
    def is_authenticated(self) -> bool:
        return True


class SiteIntegration(models.Model):
    PLATFORM_CHOICES = [
        ("wordpress", "WordPress"),
        ("shopify", "Shopify"),
        ("custom", "Custom"),
    ]

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="integrations")
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES, default="wordpress")
    is_active = models.BooleanField(default=True)
    structure = models.JSONField(null=True, blank=True)
    last_structure_fetch = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.platform} integration {self.pk} of site {self.site_id}"
