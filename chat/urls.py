from django.contrib import admin
from django.urls import include, path

from chat import views

chat_patterns = [
    path("", views.index, name="index"),
    path("new/", views.new_room, name="new"),
    path("<slug:label>/", views.room, name="room"),
    path("<slug:label>/messages", views.messages, name="messages"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include((chat_patterns, "chat"))),
]
