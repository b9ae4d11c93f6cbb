from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.http import require_POST

from chat import api, views
from chat.conversations import views as conversation_views
from chat.images import views as image_views

account_patterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    # Only by POST, so that a link or an image on another site cannot sign
    # anyone out; the POST carries the CSRF token.
    path("logout/", require_POST(auth_views.LogoutView.as_view()), name="logout"),
]

# The HTTP API for bots (chat/api.py): bearer tokens, JSON only.
api_patterns = [
    path("rooms/<slug:label>/messages", api.room_messages, name="messages"),
    path("rooms/<slug:label>/messages/<int:message_id>", api.room_message, name="message"),
]

chat_patterns = [
    path("", views.index, name="index"),
    path("new/", views.new_room, name="new"),
    path("search/", views.search_messages, name="search"),
    path("<slug:label>/", views.room, name="room"),
    path("<slug:label>/name/", views.guest_name, name="guest_name"),
    path("<slug:label>/members/", views.room_members, name="members"),
    path("<slug:label>/topic/", views.room_topic, name="topic"),
    path("<slug:label>/messages", views.messages, name="messages"),
    path(
        "<slug:label>/messages/<int:message_id>/history",
        conversation_views.history,
        name="message_history",
    ),
    path("<slug:label>/upload/", image_views.upload, name="upload"),
    path("<slug:label>/upload/<uuid:upload_id>/", image_views.upload_status, name="upload_status"),
    path(
        "<slug:label>/upload/<uuid:upload_id>/retry/", image_views.upload_retry, name="upload_retry"
    ),
]

# The site's own paths come before the chat's, whose <slug:label>/ would
# otherwise match them; conf.RESERVED_LABELS keeps rooms off them.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(account_patterns)),
    path("api/", include((api_patterns, "api"))),
    # Uploaded images kept on disk (MEDIA_ROOT), and those of private
    # rooms from any storage; another storage serves the rest itself.
    path("media/<path:path>", image_views.media, name="media"),
    path("", include((chat_patterns, "chat"))),
]
