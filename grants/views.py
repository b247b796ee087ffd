"""Customer pages about consent: the OAuth consent screen, "share my data", "my grants", access history.

Every view resolves the logged-in customer first and reads only through selectors scoped to that
customer, so another customer's grant, usage point or history answers exactly like an unknown id: 404.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, TemplateView
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView
from oauth2_provider.views.mixins import OAuthLibMixin

from custodian import services as custodian_services
from custodian.exceptions import NotFound
from custodian.middleware import content_security_policy
from custodian.selectors import (
    customer_for_user,
    usage_point_get_for_customer,
    usage_point_list_for_customer,
)
from grants import access_history, selectors, services
from grants.data_categories import RECORD_CHOICE_BY_KEY, RECORD_CHOICES, describe_data, describe_scope
from grants.forms import ConsentForm, OAuthConsentForm
from grants.models import BulkUser, Grant, ThirdParty
from grants.oauth import authorization_error_describe, authorization_error_status, redirect_state_last
from grants.scopes import (
    EspiScope,
    ScopeError,
    bulk_share_scope,
    describe_duration,
    describe_interval,
    parse_scope,
    scope_validate_for_client,
    third_party_scope_selection_redirect,
)


def _parsed_or_none(scope_text: str) -> EspiScope | None:
    try:
        return parse_scope(scope_text)
    except ScopeError:
        return None


def _customer_or_404(request):
    try:
        return customer_for_user(user=request.user)
    except NotFound:
        raise Http404("No retail customer for this login.") from None


def _max_until() -> date:
    """Return the last local day a new grant may run to (``GRANT_DEFAULT_DAYS`` from today, inclusive)."""
    return timezone.localdate(timezone=timezone.get_default_timezone()) + timedelta(days=settings.GRANT_DEFAULT_DAYS)


def _consent_form_invalid(view, form):
    """Show the consent form again with its errors, as a 400: nothing was granted.

    A usage point that is not the customer's, a function block that was not asked for, or a date
    in the past or beyond the offered end is a refused request, not a page to cache as a success.
    """
    return view.render_to_response(view.get_context_data(form=form), status=400)


def consent_context(*, third_party: ThirdParty, requested: EspiScope, bulk_user: BulkUser | None) -> dict[str, Any]:
    """Return what the consent screen shows, in plain words; also recorded as consent evidence."""
    return {
        "third_party_name": third_party.name,
        "purpose": third_party.description,
        "third_party_uri": third_party.client_uri,
        "policy_uri": third_party.policy_uri,
        "tos_uri": third_party.tos_uri,
        "scope_requested": requested.format(),
        "data": [str(words) for words in describe_scope(requested)],
        "interval": describe_interval(requested),
        "history": describe_duration(requested.history_length),
        "until_offered": _max_until().isoformat(),
        "bulk": (
            {"bulk_id": bulk_user.bulk_id, "name": bulk_user.name, "description": bulk_user.description}
            if bulk_user is not None
            else None
        ),
    }


def consent_evidence(*, request, shown: dict[str, Any], form: ConsentForm, flow: str) -> dict[str, Any]:
    """Return the consent record kept on the grant: what was shown, what was chosen, when, from where."""
    return {
        "flow": flow,
        "shown": shown,
        "chosen": {
            "usage_points": list(form.cleaned_data.get("usage_points", [])),
            "data": list(form.cleaned_data.get("data", [])),
            "function_blocks": sorted(form.chosen_scope.function_blocks),
            "customer_records": form.chosen_records,
            "scope": form.chosen_scope.format(),
            "until": form.cleaned_data["until"].isoformat(),
        },
        "at": timezone.now().isoformat(),
        "client_ip": request.META.get("REMOTE_ADDR", ""),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:256],
    }


class ConsentFormMixin:
    """The consent form and its plain-language context, shared by both ways into it.

    The view sets ``customer``, ``application``, ``requested`` (the scope asked for) and ``bulk_user``
    before the form is built.
    """

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs.update(
            customer_usage_points=list(usage_point_list_for_customer(customer=self.customer)),
            requested=self.requested,
            max_until=_max_until(),
        )
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["consent"] = consent_context(
            third_party=self.application, requested=self.requested, bulk_user=self.bulk_user
        )
        context["application"] = self.application
        context["until_max"] = _max_until()
        return context


@method_decorator(never_cache, name="dispatch")
class ConsentView(ConsentFormMixin, AuthorizationView):
    """``/oauth/authorize``: the Third-Party-initiated consent screen (RFC 6749 section 4.1.1).

    Unlike django-oauth-toolkit's view, consent is always asked (no ``approval_prompt=auto``, no
    ``skip_authorization``), approving creates the grant before the code is issued, and error
    redirects carry ``iss`` too (RFC 9207 section 2). An unknown client or an unregistered redirect
    URI is shown as an error page and never redirected to (RFC 6749 section 4.1.2.1).
    """

    template_name = "oauth2_provider/authorize.html"
    form_class = OAuthConsentForm

    def dispatch(self, request, *args, **kwargs):
        # The request is checked before the customer is asked to log in (PRODUCT "Conformance"):
        # a bad client or redirect URI is an error page, any other error a redirect to the client.
        self.oauth2_data = {}
        if request.method == "GET":
            try:
                self._validated = self.validate_authorization_request(request)
            except OAuthToolkitError as error:
                return self.error_response(error, application=None)
            if not request.user.is_authenticated:
                return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        scopes, credentials = self._validated
        application = selectors.third_party_get_by_client_id(client_id=credentials["client_id"])
        if application is None:
            return self._error_page(gettext("This application is not known or not accepting new grants."), status=401)
        try:
            customer = customer_for_user(user=request.user)
        except NotFound:
            return self._error_page(gettext("Only retail customers can share their data."), status=403)
        self.customer = customer
        self.application = application
        self.requested = scope_validate_for_client(third_party=application, scope_text="".join(scopes))
        self.bulk_user = self._bulk_user(application, self.requested)
        # The approval or denial redirects there (302): the page's form-action has to allow it.
        self.form_target = credentials["redirect_uri"]
        self.oauth2_data = {
            "scope": scopes,
            "client_id": credentials["client_id"],
            "redirect_uri": credentials["redirect_uri"],
            "response_type": credentials["response_type"],
            "state": credentials["state"],
            "code_challenge": credentials.get("code_challenge"),
            "code_challenge_method": credentials.get("code_challenge_method"),
        }
        return self.render_to_response(self.get_context_data())

    def post(self, request, *args, **kwargs):
        try:
            self.customer = customer_for_user(user=request.user)
        except NotFound:
            return self._error_page(gettext("Only retail customers can share their data."), status=403)
        # The hidden fields can be tampered with: the client, its redirect URI and the scope are checked
        # again here (an error page, never a redirect), and oauthlib validates the whole request once more.
        application = selectors.third_party_get_by_client_id(client_id=request.POST.get("client_id", ""))
        if application is None or not application.is_usable(None):
            return self._error_page(gettext("This application is not known or not accepting new grants."), status=401)
        if not application.redirect_uri_allowed(request.POST.get("redirect_uri", "")):
            return self._error_page(gettext("The redirect URI is not registered for this application."), status=403)
        self.form_target = request.POST["redirect_uri"]
        try:
            posted = request.POST.get("scope", "")
            self.requested = scope_validate_for_client(third_party=application, scope_text=posted)
            if self.requested != parse_scope(posted):
                # The form carries the scope already narrowed on the consent screen: any other is tampered.
                raise ScopeError("The scope is not the one shown on the consent screen.")
        except ScopeError:
            return self._error_page(gettext("The requested scope is not valid for this application."), status=400)
        self.application = application
        self.bulk_user = self._bulk_user(application, self.requested)
        return FormView.post(self, request, *args, **kwargs)

    def form_valid(self, form):
        credentials = {
            "client_id": form.cleaned_data["client_id"],
            "redirect_uri": form.cleaned_data["redirect_uri"],
            "response_type": form.cleaned_data.get("response_type"),
            "state": form.cleaned_data.get("state") or None,
        }
        if form.cleaned_data.get("code_challenge"):
            credentials["code_challenge"] = form.cleaned_data["code_challenge"]
        if form.cleaned_data.get("code_challenge_method"):
            credentials["code_challenge_method"] = form.cleaned_data["code_challenge_method"]
        if not form.cleaned_data.get("allow"):
            services.grant_record_denial(
                customer=self.customer,
                third_party=self.application,
                scope=self.requested.format(),
                bulk_user=self.bulk_user,
                actor=self.request.user,
            )
            try:
                self.create_authorization_response(
                    request=self.request, scopes=self.requested.format(), credentials=credentials, allow=False
                )
            except OAuthToolkitError as error:
                return self.error_response(error, self.application)
            return self._error_page(gettext("The request was denied."), status=400)  # unreachable: denial always raises

        shown = consent_context(third_party=self.application, requested=self.requested, bulk_user=self.bulk_user)

        def issue_code(grant):
            return self.create_authorization_response(
                request=self.request,
                scopes=form.chosen_scope.format(),
                credentials={**credentials, "espi_grant": grant},
                allow=True,
            )

        try:
            _grant, (uri, _headers, _body, _status) = services.grant_consent_approve(
                customer=self.customer,
                third_party=self.application,
                usage_points=form.chosen_usage_points,
                scope=form.chosen_scope,
                authorized_end=form.authorized_end,
                bulk_user=self.bulk_user,
                consent=consent_evidence(request=self.request, shown=shown, form=form, flow="oauth"),
                actor=self.request.user,
                issue_code=issue_code,
                customer_records=form.chosen_records,
            )
        except OAuthToolkitError as error:
            return self.error_response(error, self.application)
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        return self.redirect(uri, self.application)

    def form_invalid(self, form):
        return _consent_form_invalid(self, form)

    def error_response(self, error, application, **kwargs):
        authorization_error_describe(error)
        redirect_to_client, error_response = OAuthLibMixin.error_response(self, error, **kwargs)
        if redirect_to_client:
            issuer = oauth2_settings.oauth2_authorization_server_issuer(self.request)
            return self.redirect(_add_iss_to_redirect(error_response["url"], issuer), application)
        return self.render_to_response(error_response, status=authorization_error_status(error))

    def redirect(self, redirect_to, application):
        return super().redirect(redirect_state_last(redirect_to), application)

    def _error_page(self, message: str, *, status: int):
        return self.render_to_response({"error_message": message}, status=status)

    def render_to_response(self, context, **kwargs):
        """Render the page; a consent form may also send its answer to the one validated redirect URI."""
        response = super().render_to_response(context, **kwargs)
        target = getattr(self, "form_target", None)
        if target and "error_message" not in context:
            response["Content-Security-Policy"] = content_security_policy(form_targets=(target,))
        return response

    @staticmethod
    def _bulk_user(application: ThirdParty, requested: EspiScope) -> BulkUser | None:
        if requested.bulk_id is None:
            return None
        return selectors.bulk_user_get(third_party=application, bulk_id=requested.bulk_id)


def third_party_asking(*, next_url: str) -> ThirdParty | None:
    """Return the Third Party in Production a login's ``next`` (an ``/oauth/authorize`` request) comes from."""
    parts = urlsplit(next_url or "")
    if parts.scheme or parts.netloc or parts.path.rstrip("/") != reverse("oauth2_provider:authorize").rstrip("/"):
        return None
    client_id = parse_qs(parts.query).get("client_id", [""])[0]
    third_party = selectors.third_party_get_by_client_id(client_id=client_id) if client_id else None
    return third_party if third_party is not None and third_party.is_in_production else None


class PortalLoginView(auth_views.LoginView):
    """The login page; arriving from ``/oauth/authorize`` it says which Third Party asks and why."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["asking"] = third_party_asking(next_url=self.get_redirect_url() or self.request.GET.get("next", ""))
        return context

    def form_valid(self, form):
        """Log in; a customer who never chose a language gets the browser's stored as theirs.

        The browser's language is its language cookie (the switch) or ``Accept-Language``. Pages keep
        following the browser and the switch; the stored language is what e-mail is written in.
        """
        response = super().form_valid(form)
        customer = getattr(form.get_user(), "retail_customer", None)
        has_preference = self.request.META.get("HTTP_ACCEPT_LANGUAGE") or self.request.COOKIES.get(
            settings.LANGUAGE_COOKIE_NAME
        )
        if customer is not None and not customer.language and has_preference:
            custodian_services.retail_customer_language_set(
                customer=customer, language=translation.get_language_from_request(self.request), actor=form.get_user()
            )
        return response
        if customer.language:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                customer.language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        elif self.request.META.get("HTTP_ACCEPT_LANGUAGE") or self.request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME):
            custodian_services.retail_customer_language_set(
                customer=customer, language=translation.get_language_from_request(self.request), actor=form.get_user()
            )
        return response


@method_decorator(never_cache, name="dispatch")
class ShareListView(LoginRequiredMixin, TemplateView):
    """ "Share my data": Third Parties in Production and their bulk users."""

    template_name = "grants/share_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        _customer_or_404(self.request)
        context["third_parties"] = selectors.third_party_list_in_production()
        return context


def _to_scope_selection(third_party: ThirdParty) -> HttpResponseRedirect:
    try:
        return HttpResponseRedirect(third_party_scope_selection_redirect(third_party=third_party))
    except NotFound:
        raise Http404("This Third Party has no scope-selection screen.") from None


@method_decorator(never_cache, name="dispatch")
class ScopeSelectionView(View):
    """The Data Custodian's scope-selection screen (ESPI ``dataCustodianScopeSelectionScreenURI``).

    A Third Party sends the customer here with ``ThirdPartyID`` (its client id); the customer is sent
    on to the Third Party's own scope-selection screen with the scopes offered to it, and the Third
    Party then starts ``/oauth/authorize``. An unknown Third Party, or one not in Production, is 404.
    """

    http_method_names = ["get"]

    def get(self, request):
        client_id = request.GET.get("ThirdPartyID") or request.GET.get("client_id") or ""
        third_party = selectors.third_party_get_by_client_id(client_id=client_id)
        if third_party is None or not third_party.is_in_production:
            raise Http404("No such Third Party.")
        return _to_scope_selection(third_party)


@method_decorator(never_cache, name="dispatch")
class ShareIndividualView(LoginRequiredMixin, View):
    """ "Share my data" for an individual grant: on to the Third Party's scope-selection screen (ESPI flow)."""

    http_method_names = ["get"]

    def get(self, request, third_party_id: str):
        _customer_or_404(request)
        try:
            third_party = selectors.third_party_get_in_production(public_id=third_party_id)
        except NotFound:
            raise Http404("No such Third Party.") from None
        return _to_scope_selection(third_party)


@method_decorator(never_cache, name="dispatch")
class ShareBulkView(LoginRequiredMixin, ConsentFormMixin, FormView):
    """The customer-initiated consent form for joining a Third Party's bulk user.

    The same form, template and grant service as ``/oauth/authorize``; no OAuth redirect follows,
    because the Third Party reaches bulk members with its client token on ``Batch/Bulk/{bulkId}``.
    """

    template_name = "oauth2_provider/authorize.html"
    form_class = ConsentForm

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.customer = _customer_or_404(request)
        try:
            self.application = selectors.third_party_get_in_production(public_id=kwargs["third_party_id"])
            self.bulk_user = selectors.bulk_user_get(third_party=self.application, bulk_id=kwargs["bulk_id"])
            self.requested = bulk_share_scope(third_party=self.application, bulk_user=self.bulk_user)
        except NotFound:
            raise Http404("No such bulk user.") from None
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "portal_initiated": True}

    def form_invalid(self, form):
        return _consent_form_invalid(self, form)

    def form_valid(self, form):
        if not form.cleaned_data.get("allow"):
            messages.info(self.request, gettext("Nothing was shared with %(name)s.") % {"name": self.application.name})
            return redirect("share")
        shown = consent_context(third_party=self.application, requested=self.requested, bulk_user=self.bulk_user)
        try:
            services.grant_create(
                customer=self.customer,
                third_party=self.application,
                usage_points=form.chosen_usage_points,
                scope=form.chosen_scope,
                authorized_end=form.authorized_end,
                bulk_user=self.bulk_user,
                consent=consent_evidence(request=self.request, shown=shown, form=form, flow="portal"),
                actor=self.request.user,
                replace_earlier=True,
                customer_records=form.chosen_records,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            gettext("You are now sharing data with %(name)s (%(bulk)s).")
            % {"name": self.application.name, "bulk": self.bulk_user.name},
        )
        return redirect("grant-list")


def grant_row(*, grant) -> dict[str, Any]:
    """Return what "My grants" and the revoke confirmation show of one grant, in the customer's words."""
    return {
        "grant": grant,
        "is_active": grant.is_active,
        "data": describe_data(
            grant.function_blocks, scope=_parsed_or_none(grant.scope), records=grant.customer_records
        ),
        "history": describe_duration(grant.history_length),
        "links": list(grant.grant_usage_points.all()),
        "records": [choice for choice in RECORD_CHOICES if choice.key in grant.customer_records],
        "third_party_paused": grant.status == Grant.Status.ACTIVE
        and grant.third_party.lifecycle == ThirdParty.Lifecycle.ON_HOLD,
        "third_party_revoked": grant.third_party.lifecycle == ThirdParty.Lifecycle.REVOKED,
    }


@method_decorator(never_cache, name="dispatch")
class GrantListView(LoginRequiredMixin, TemplateView):
    """ "My grants": every grant with its usage points, data, period and status; active ones first."""

    template_name = "grants/grant_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = _customer_or_404(self.request)
        rows = [grant_row(grant=grant) for grant in selectors.grant_list_for_customer(customer=customer)]
        first_past = next((row for row in rows if row["grant"].status != Grant.Status.ACTIVE), None)
        if first_past is not None:
            first_past["first_past"] = True
        context["rows"] = rows
        return context


@method_decorator(never_cache, name="dispatch")
class GrantRevokeView(LoginRequiredMixin, View):
    """Revoke one of the customer's grants: GET asks for confirmation (no JavaScript needed), POST revokes."""

    def get(self, request, grant_id: str):
        customer = _customer_or_404(request)
        try:
            grant = selectors.grant_get_for_customer(customer=customer, public_id=grant_id)
        except NotFound:
            raise Http404("No such grant.") from None
        if grant.status != Grant.Status.ACTIVE:
            return HttpResponseRedirect(reverse("grant-list"))
        return TemplateResponse(request, "grants/grant_confirm_revoke.html", {"row": grant_row(grant=grant)})

    def post(self, request, grant_id: str):
        customer = _customer_or_404(request)
        try:
            grant = selectors.grant_get_for_customer(customer=customer, public_id=grant_id)
        except NotFound:
            raise Http404("No such grant.") from None
        services.grant_revoke(grant=grant, actor=request.user, reason="Revoked by the customer")
        messages.success(request, gettext("Access for %(name)s was revoked.") % {"name": grant.third_party.name})
        return HttpResponseRedirect(reverse("grant-list"))


@method_decorator(never_cache, name="dispatch")
class GrantUsagePointRevokeView(LoginRequiredMixin, View):
    """Take one usage point back from one of the customer's grants: GET asks for confirmation, POST does it."""

    def _resolve(self, request, grant_id: str, usage_point_id: str):
        customer = _customer_or_404(request)
        try:
            grant = selectors.grant_get_for_customer(customer=customer, public_id=grant_id)
            usage_point = usage_point_get_for_customer(customer=customer, public_id=usage_point_id)
        except NotFound:
            raise Http404("No such usage point in this grant.") from None
        if not grant.grant_usage_points.filter(usage_point=usage_point, revoked_at__isnull=True).exists():
            raise Http404("No such usage point in this grant.")
        return grant, usage_point

    def get(self, request, grant_id: str, usage_point_id: str):
        grant, usage_point = self._resolve(request, grant_id, usage_point_id)
        context = {"row": grant_row(grant=grant), "usage_point": usage_point}
        return TemplateResponse(request, "grants/grant_confirm_revoke.html", context)

    def post(self, request, grant_id: str, usage_point_id: str):
        grant, usage_point = self._resolve(request, grant_id, usage_point_id)
        try:
            services.grant_revoke_usage_point(grant=grant, usage_point=usage_point, actor=request.user)
        except ValidationError:
            raise Http404("No such usage point in this grant.") from None
        messages.success(
            request,
            gettext("%(meter)s is no longer shared with %(name)s.")
            % {"meter": usage_point.title or gettext("The meter"), "name": grant.third_party.name},
        )
        return HttpResponseRedirect(reverse("grant-list"))


@method_decorator(never_cache, name="dispatch")
class GrantRecordsRevokeView(LoginRequiredMixin, View):
    """Stop sharing one kind of the customer's own records under a grant (the usage data stays shared)."""

    def _resolve(self, request, grant_id: str, record_key: str):
        customer = _customer_or_404(request)
        try:
            grant = selectors.grant_get_for_customer(customer=customer, public_id=grant_id)
        except NotFound:
            raise Http404("No such records in this grant.") from None
        if grant.status != Grant.Status.ACTIVE or record_key not in grant.customer_records:
            raise Http404("No such records in this grant.")
        return grant, RECORD_CHOICE_BY_KEY[record_key]

    def get(self, request, grant_id: str, record_key: str):
        grant, choice = self._resolve(request, grant_id, record_key)
        context = {"row": grant_row(grant=grant), "record_choice": choice}
        return TemplateResponse(request, "grants/grant_confirm_revoke.html", context)

    def post(self, request, grant_id: str, record_key: str):
        grant, choice = self._resolve(request, grant_id, record_key)
        services.grant_customer_records_revoke(grant=grant, records=[choice.key], actor=request.user)
        messages.success(
            request,
            gettext("%(name)s no longer reaches %(what)s.") % {"name": grant.third_party.name, "what": choice.words},
        )
        return HttpResponseRedirect(reverse("grant-list"))


@method_decorator(never_cache, name="dispatch")
class AccessHistoryView(LoginRequiredMixin, TemplateView):
    """Who read, uploaded or changed the customer's data or consent, and when: in sentences, paged, by Third Party."""

    template_name = "grants/history.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = _customer_or_404(self.request)
        third_parties = list(access_history.history_third_parties(customer=customer))
        chosen = next((tp for tp in third_parties if tp.public_id == self.request.GET.get("third_party")), None)
        page, entries = access_history.history_page(
            customer=customer, viewer=self.request.user, third_party=chosen, page_number=self.request.GET.get("page")
        )
        context.update(page=page, entries=entries, third_parties=third_parties, chosen=chosen)
        return context
