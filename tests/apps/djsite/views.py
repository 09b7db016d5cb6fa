from __future__ import annotations

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return JsonResponse(
        {
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META["SCRIPT_NAME"],
            "reverse": reverse("form"),
            "absolute": request.build_absolute_uri(reverse("index")),
        }
    )


@csrf_exempt
def form(request):
    if request.method == "POST":
        return JsonResponse({"fields": request.POST.dict(), "files": sorted(request.FILES)})
    return HttpResponse("<form method=post><input name=x></form>")


def stream(request):
    count = int(request.GET.get("n", "3"))
    return StreamingHttpResponse((f"row{i}\n" for i in range(count)), content_type="text/plain")
