"""The Bot API methods a bot calls, acting on the emulator's chats and queues.

Parameters arrive already checked against the spec; each method applies
Telegram's value rules (``rules``), the state rules (chat not found, message to
edit not found, not modified, query too old, blocked user) and answers with the
realistic object the frameworks parse (Message, User, WebhookInfo, ...).

The methods act on the state described by ``State``, which ``Emulator`` owns
and hands in; this module never imports the emulator, so imports run one way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit

import emulator.rules as rules
from emulator.errors import (
    BLOCKED,
    CANT_INITIATE,
    WEBHOOK_ACTIVE,
    ApiError,
    BadRequest,
    Forbidden,
    InvalidRequest,
    conflict,
)
from emulator.html import ParsedText, render
from emulator.objects import BotMessage, ButtonView, CallbackAnswer, UploadedFile
from emulator.updates import UpdateQueue
from emulator.users import Conversation, SimulatedUser
from emulator.webhook import WebhookDelivery

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
MAX_UPLOAD = 50 * 1024 * 1024
MAX_PHOTO = 10 * 1024 * 1024


class State(Protocol):
    """What the methods read and change: the chats, the people, the queue, the webhook."""

    bot_user: dict[str, Any]  # getMe's User
    bot_sender: dict[str, Any]  # the ``from`` of the bot's messages
    conversations: dict[int, Conversation]
    files: dict[str, UploadedFile]  # file_id -> the file, for sending it again by id
    callbacks: dict[str, asyncio.Future[CallbackAnswer]]  # pending presses by query id
    queue: UpdateQueue
    webhook: WebhookDelivery | None

    @property
    def users(self) -> Mapping[int, SimulatedUser]: ...

    async def install_webhook(
        self, url: str, *, secret_token: str | None, max_connections: int, drop_pending: bool
    ) -> None: ...

    async def remove_webhook(self, *, drop_pending: bool) -> None: ...


class BotApi:
    """Dispatches checked calls to the method implementations."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._file_numbers = itertools.count(1)
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "editMessageCaption": self.edit_message_caption,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "sendChatAction": self.send_chat_action,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
        }

    async def dispatch(self, method: str, returns: tuple[str, ...], params: dict[str, Any]) -> Any:
        handler = self._handlers.get(method)
        if handler is not None:
            return await handler(params)
        if returns == ("Message",) and "chat_id" in params:
            return self._other_message(method, params)
        return True  # any other method: accepted after validation

    # -- chats -------------------------------------------------------------------

    def chat(self, chat_id: int | str) -> Conversation:
        """The chat with this id, or ``chat not found``.

        A string chat_id is an @username; Telegram resolves those only for public
        channels and supergroups, which the emulator does not simulate.
        """
        conversation = self.state.conversations.get(chat_id) if isinstance(chat_id, int) else None
        if conversation is None:
            raise BadRequest("chat not found")
        return conversation

    def writable(self, chat_id: int | str) -> Conversation:
        """A chat the bot may write to now: the user has started it and has not blocked the bot."""
        conversation = self.chat(chat_id)
        user = self.state.users.get(conversation.id)
        if user is not None:
            if user.blocked:
                raise Forbidden(BLOCKED)
            if not user.started:
                raise Forbidden(CANT_INITIATE)
        return conversation

    def _message(self, conversation: Conversation, message_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": message_id,
            "from": self.state.bot_sender,
            "chat": conversation.chat,
            "date": int(time.time()),
            **fields,
        }

    def _check_reply(self, conversation: Conversation, params: dict[str, Any]) -> None:
        reply = params.get("reply_parameters")
        if reply is None or reply.get("allow_sending_without_reply"):
            return
        if reply["message_id"] not in conversation.message_ids:
            raise BadRequest("message to be replied not found")

    @staticmethod
    def _inline_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """The markup as echoed in a Message: inline keyboards only, empty means none."""
        if markup is None or not markup.get("inline_keyboard"):
            return None
        return markup

    def _deliver(
        self,
        conversation: Conversation,
        params: dict[str, Any],
        parsed: ParsedText,
        html: str,
        buttons: list[list[ButtonView]],
        extra: dict[str, Any],
        *,
        text_field: str = "text",
        document: UploadedFile | None = None,
        photo: bytes | None = None,
    ) -> dict[str, Any]:
        """Add a bot message to the chat and answer its Message object."""
        self._check_reply(conversation, params)
        message_id = conversation.next_message_id()
        fields: dict[str, Any] = dict(extra)
        if parsed.text or text_field == "text":
            fields[text_field] = parsed.text
        if parsed.entities:
            fields["entities" if text_field == "text" else "caption_entities"] = parsed.entities
        markup = self._inline_markup(params.get("reply_markup"))
        if markup is not None:
            fields["reply_markup"] = markup
        raw = self._message(conversation, message_id, fields)
        message = BotMessage(
            message_id=message_id,
            chat_id=conversation.id,
            text=parsed.text,
            html=html,
            buttons=buttons if markup is not None else [],
            date=raw["date"],
            raw=raw,
            document=document,
            photo=photo,
            caption=(parsed.text or None) if text_field == "caption" else None,
        )
        conversation.bot_sent(message)
        return raw

    def _editable(self, params: dict[str, Any]) -> tuple[Conversation, BotMessage]:
        if "inline_message_id" in params:
            raise BadRequest("MESSAGE_ID_INVALID")
        if "chat_id" not in params:
            raise InvalidRequest("chat_id is empty")
        if "message_id" not in params:
            raise InvalidRequest("message identifier is not specified")
        conversation = self.writable(params["chat_id"])
        message = conversation.bot_messages.get(params["message_id"])
        if message is None or message.deleted:
            if params["message_id"] in conversation.message_ids:
                raise BadRequest("message can't be edited")
            raise BadRequest("message to edit not found")
        return conversation, message

    def _apply_edit(
        self,
        conversation: Conversation,
        message: BotMessage,
        fields: dict[str, Any],
        markup: dict[str, Any] | None,
        buttons: list[list[ButtonView]],
        *,
        text: str | None = None,
        html: str | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """Apply an edit unless it changes nothing (Telegram answers ``not modified`` then)."""
        volatile = ("reply_markup", "edit_date")
        before = {key: value for key, value in message.raw.items() if key not in volatile}
        new = {key: value for key, value in before.items() if key not in fields}
        new.update({key: value for key, value in fields.items() if value or key == "text"})
        if new == before and markup == message.raw.get("reply_markup"):
            raise BadRequest(NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        if markup is not None:
            new["reply_markup"] = markup
        message.raw = new
        message.buttons = buttons if markup is not None else []
        message.edited = True
        if text is not None:
            message.text = text
        if html is not None:
            message.html = html
        if caption is not None:
            message.caption = caption or None
        conversation.bot_edited(message)
        return new

    # -- updates and webhook ---------------------------------------------------------

    async def get_me(self, params: dict[str, Any]) -> Any:
        return self.state.bot_user

    async def get_updates(self, params: dict[str, Any]) -> Any:
        if self.state.webhook is not None:
            raise conflict(WEBHOOK_ACTIVE)
        queue = self.state.queue
        queue.set_allowed(params.get("allowed_updates"))
        return await queue.get(params.get("offset"), params.get("limit"), params.get("timeout"))

    async def set_webhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url", "")
        if not url:
            await self.state.remove_webhook(drop_pending=bool(params.get("drop_pending_updates")))
            return True
        rules.webhook(url, params.get("secret_token"), params.get("max_connections"))
        self.state.queue.set_allowed(params.get("allowed_updates"))
        await self.state.install_webhook(
            url,
            secret_token=params.get("secret_token"),
            max_connections=params.get("max_connections") or 40,
            drop_pending=bool(params.get("drop_pending_updates")),
        )
        return True

    async def delete_webhook(self, params: dict[str, Any]) -> Any:
        await self.state.remove_webhook(drop_pending=bool(params.get("drop_pending_updates")))
        return True

    async def get_webhook_info(self, params: dict[str, Any]) -> Any:
        webhook = self.state.webhook
        if webhook is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self.state.queue)}
        info: dict[str, Any] = {
            "url": webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": webhook.pending_count,
            "max_connections": webhook.max_connections,
            "ip_address": "127.0.0.1",
        }
        if self.state.queue.allowed_updates:
            info["allowed_updates"] = sorted(self.state.queue.allowed_updates)
        if webhook.last_error_date is not None:
            info["last_error_date"] = webhook.last_error_date
            info["last_error_message"] = webhook.last_error_message
        return info

    # -- messages ----------------------------------------------------------------------

    async def send_message(self, params: dict[str, Any]) -> Any:
        parsed = self._text(params)
        buttons = rules.reply_markup(params.get("reply_markup"))
        conversation = self.writable(params["chat_id"])
        return self._deliver(conversation, params, parsed, params["text"], buttons, {})

    @staticmethod
    def _text(params: dict[str, Any]) -> ParsedText:
        if "text" not in params:
            raise InvalidRequest("message text is empty")
        parsed = rules.message_text(params["text"], params.get("parse_mode"))
        if params.get("entities") and not params.get("parse_mode"):
            parsed.entities = params["entities"]
        return parsed

    async def edit_message_text(self, params: dict[str, Any]) -> Any:
        parsed = self._text(params)
        buttons = rules.reply_markup(params.get("reply_markup"))
        conversation, message = self._editable(params)
        if message.document is not None or message.photo is not None:
            raise BadRequest("there is no text in the message to edit")
        markup = self._inline_markup(params.get("reply_markup"))
        fields = {"text": parsed.text, "entities": parsed.entities}
        return self._apply_edit(conversation, message, fields, markup, buttons, text=parsed.text, html=params["text"])

    async def edit_message_caption(self, params: dict[str, Any]) -> Any:
        parsed = rules.caption(params.get("caption", ""), params.get("parse_mode")) or ParsedText("")
        buttons = rules.reply_markup(params.get("reply_markup"))
        conversation, message = self._editable(params)
        if message.document is None and message.photo is None:
            raise BadRequest("there is no caption in the message to edit")
        markup = self._inline_markup(params.get("reply_markup"))
        fields = {"caption": parsed.text, "caption_entities": parsed.entities}
        return self._apply_edit(
            conversation,
            message,
            fields,
            markup,
            buttons,
            text=parsed.text,
            html=params.get("caption", ""),
            caption=parsed.text,
        )

    async def edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        buttons = rules.reply_markup(params.get("reply_markup"))
        conversation, message = self._editable(params)
        markup = self._inline_markup(params.get("reply_markup"))
        return self._apply_edit(conversation, message, {}, markup, buttons)

    async def delete_message(self, params: dict[str, Any]) -> Any:
        conversation = self.chat(params["chat_id"])
        if params["message_id"] not in conversation.message_ids:
            raise BadRequest("message to delete not found")
        conversation.bot_deleted(params["message_id"])
        return True

    async def answer_callback_query(self, params: dict[str, Any]) -> Any:
        rules.callback_answer_text(params.get("text"))
        waiting = self.state.callbacks.pop(params["callback_query_id"], None)
        if waiting is None or waiting.done():
            raise BadRequest(QUERY_TOO_OLD)
        waiting.set_result(CallbackAnswer(params.get("text"), bool(params.get("show_alert", False)), params.get("url")))
        return True

    # -- files -------------------------------------------------------------------------

    def _input_file(self, value: UploadedFile | str) -> UploadedFile:
        """An uploaded file, a file_id the emulator handed out, or an HTTP URL."""
        if isinstance(value, UploadedFile):
            if value.size > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            return value
        known = self.state.files.get(value)
        if known is not None:
            return known
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.hostname:
            return UploadedFile(PurePosixPath(parts.path).name or "file", b"")
        raise BadRequest("wrong file identifier/HTTP URL specified")

    def _file_id(self, prefix: str, file: UploadedFile) -> dict[str, Any]:
        number = next(self._file_numbers)
        file_id = f"{prefix}{number:012d}"
        self.state.files[file_id] = file
        return {"file_id": file_id, "file_unique_id": f"U{prefix}{number}", "file_size": file.size}

    async def send_document(self, params: dict[str, Any]) -> Any:
        file = self._input_file(params["document"])
        caption = rules.caption(params.get("caption"), params.get("parse_mode")) or ParsedText("")
        buttons = rules.reply_markup(params.get("reply_markup"))
        conversation = self.writable(params["chat_id"])
        mime = file.content_type or mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
        if mime == "application/octet-stream":
            mime = mimetypes.guess_type(file.filename)[0] or mime
        document = {**self._file_id("BQAC", file), "file_name": file.filename, "mime_type": mime}
        return self._deliver(
            conversation,
            params,
            caption,
            params.get("caption", ""),
            buttons,
            {"document": document},
            text_field="caption",
            document=file,
        )

    async def send_photo(self, params: dict[str, Any]) -> Any:
        file = self._input_file(params["photo"])
        if file.size > MAX_PHOTO:
            raise InvalidRequest("PHOTO_INVALID_DIMENSIONS")
        width, height = rules.photo_bytes(file.data) if file.data else (512, 512)
        caption = rules.caption(params.get("caption"), params.get("parse_mode")) or ParsedText("")
        buttons = rules.reply_markup(params.get("reply_markup"))
        conversation = self.writable(params["chat_id"])
        photo = [{**self._file_id("AgAC", file), "width": width, "height": height}]
        return self._deliver(
            conversation,
            params,
            caption,
            params.get("caption", ""),
            buttons,
            {"photo": photo},
            text_field="caption",
            photo=file.data,
        )

    def _other_message(self, method: str, params: dict[str, Any]) -> Any:
        """Any other send method: a placeholder message, so frameworks get a Message back."""
        conversation = self.writable(params["chat_id"])
        caption = params.get("caption")
        parsed = render(caption, params.get("parse_mode")) if isinstance(caption, str) else ParsedText("")
        label = f"[{method}]" + (f" {parsed.text}" if parsed.text else "")
        message_id = conversation.next_message_id()
        raw = self._message(conversation, message_id, {"text": label})
        message = BotMessage(message_id, conversation.id, label, label, date=raw["date"], raw=raw)
        conversation.bot_sent(message)
        return raw

    # -- chat actions, commands, menu ------------------------------------------------------

    async def send_chat_action(self, params: dict[str, Any]) -> Any:
        rules.chat_action(params["action"])
        self.writable(params["chat_id"])
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.get("language_code") or ""

    async def set_my_commands(self, params: dict[str, Any]) -> Any:
        rules.commands(params["commands"])
        self.commands[self._commands_key(params)] = params["commands"]
        return True

    async def get_my_commands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(params), [])

    async def delete_my_commands(self, params: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def set_chat_menu_button(self, params: dict[str, Any]) -> Any:
        self.menu_buttons[params.get("chat_id")] = params.get("menu_button") or {"type": "default"}
        return True

    async def get_chat_menu_button(self, params: dict[str, Any]) -> Any:
        chat_id = params.get("chat_id")
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}
