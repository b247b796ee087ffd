"""Admin view: staff upload a Green Button file for a customer, through the same import service."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from custodian.espi.errors import EspiError
from custodian.imports import ImportFailed, customer_feed_import_with_records
from custodian.models import RetailCustomer


class GreenButtonUploadForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("A Green Button (ESPI Atom) XML file, UTF-8."))
    lenient = forms.BooleanField(
        label=_("Lenient"),
        required=False,
        help_text=_(
            "Lenient: normalize what real files do (bare or missing ids, date-only stamps, relative hrefs, "
            "nested ReadingTypes, 2013 casing); each normalization is shown after the import."
        ),
    )


def import_greenbutton_view(model_admin, request, object_id: str):
    """Show the upload form, and import the uploaded file for the customer (all or nothing)."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    if not object_id.isdigit():
        raise Http404("No such customer.")  # the admin's own URLs answer a malformed id the same way
    customer = get_object_or_404(RetailCustomer, pk=int(object_id))
    rejected = []
    if request.method == "POST":
        form = GreenButtonUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                outcome = customer_feed_import_with_records(
                    customer=customer, source=upload, lenient=form.cleaned_data["lenient"], actor=request.user
                )
            except (EspiError, ImportFailed) as exc:
                form.add_error("file", str(exc))
            else:
                if not outcome.imported:
                    rejected = outcome.rejected[:100]
                    count = len(outcome.rejected)
                    form.add_error(
                        "file",
                        ngettext(
                            "Nothing imported: %(count)d entry cannot be imported.",
                            "Nothing imported: %(count)d entries cannot be imported.",
                            count,
                        )
                        % {"count": count},
                    )
                else:
                    messages.success(
                        request,
                        gettext("Imported %(entries)s entries and %(readings)s readings for %(customer)s (%(counts)s).")
                        % {
                            "entries": outcome.entries,
                            "readings": outcome.readings,
                            "customer": customer,
                            "counts": outcome.counts(),
                        },
                    )
                    warnings = outcome.warnings()
                    for line in warnings[:20]:
                        messages.warning(request, line)
                    if len(warnings) > 20:
                        messages.warning(
                            request,
                            gettext("... and warnings on %(count)s more entries.") % {"count": len(warnings) - 20},
                        )
                    return redirect("admin:custodian_retailcustomer_change", customer.pk)
    else:
        form = GreenButtonUploadForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": customer,
        "title": gettext("Import Green Button data for %(customer)s") % {"customer": customer},
        "form": form,
        "rejected": rejected,
    }
    return TemplateResponse(request, "admin/custodian/retailcustomer/import_greenbutton.html", context)
