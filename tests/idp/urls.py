from django.contrib.auth.views import LoginView
from django.urls import include, path

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    # A plain login form (the admin's would demand is_staff).
    path("accounts/login/", LoginView.as_view(), name="login"),
]
