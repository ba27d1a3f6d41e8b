"""Portal pages."""

from django.http import HttpResponse


def home(request):
    return HttpResponse("Ironyard")


def not_found(request, exception=None):
    return HttpResponse(status=404)


def server_error(request):
    return HttpResponse(status=500)
