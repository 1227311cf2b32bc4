"""The emulator refuses what Telegram refuses, with Telegram's words, over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from emulator import Emulator
from emulator.html import parse_html, utf16_length
from emulator.spec import Spec
from tests.fixtures.emulator import Api


@pytest.fixture
async def ada(emulator: Emulator) -> int:
    """A user who has started the bot, so the bot may write to them."""
    await emulator.user(1001, first_name="Ada").send("/start")
    return 1001


def keyboard(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"inline_keyboard": [list(buttons)]}


async def test_an_unknown_method_is_not_found(api: Api) -> None:
    assert await api("sendTelepathy", chat_id=1) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )


async def test_a_wrong_token_is_unauthorized(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    async with session.post(f"{emulator.base_url}/bot999:WRONG/getMe") as response:
        assert response.status == 401
        assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_get_me_and_case_insensitive_method_names(api: Api) -> None:
    status, body = await api("GETME")
    assert status == 200
    assert body["result"]["id"] == 100000
    assert body["result"]["username"] == "undersign_bot"
    assert body["result"]["is_bot"] is True


async def test_missing_parameters_use_telegrams_words(api: Api, emulator: Emulator, ada: int) -> None:
    assert await api("sendMessage", text="hi") == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"},
    )
    status, body = await api("sendMessage", chat_id=ada)
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    assert [r.description for r in emulator.rejected] == [
        "Bad Request: chat_id is empty",
        "Bad Request: message text is empty",
    ]


async def test_unknown_parameter_is_refused(api: Api, ada: int) -> None:
    status, body = await api("sendMessage", chat_id=ada, text="hi", disable_web_page_previews=True)
    assert status == 400
    assert body["description"] == 'Bad Request: unknown parameter "disable_web_page_previews"'


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"chat_id": {"id": 1}, "text": "hi"}, 'parameter "chat_id" must be of type Integer or String'),
        ({"chat_id": 1001, "text": "hi", "disable_notification": "maybe"}, '"disable_notification" must be'),
        ({"chat_id": 1001, "text": ["hi"]}, 'parameter "text" must be of type String'),
        (
            {"chat_id": 1001, "text": "hi", "reply_markup": keyboard({"text": ["x"], "callback_data": "x"})},
            "can't parse reply_markup: inline_keyboard[0][0].text must be of type String",
        ),
        (
            {"chat_id": 1001, "text": "hi", "reply_markup": {"inline_keyboard": [[{"callback_data": "x"}]]}},
            "inline_keyboard[0][0].text is required",
        ),
        ({"chat_id": 1001, "text": "hi", "reply_markup": "{not json"}, "reply_markup"),
    ],
)
async def test_wrong_types_are_refused(api: Api, ada: int, params: dict[str, Any], fragment: str) -> None:
    status, body = await api("sendMessage", **params)
    assert status == 400
    assert fragment in body["description"]


async def test_form_values_are_decoded_like_telegram(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    await emulator.user(1001).send("/start")
    form = {
        "chat_id": "1001",
        "text": "form",
        "disable_notification": "true",
        "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}',
    }
    url = f"{emulator.base_url}/bot{emulator.token}/sendMessage"
    async with session.post(url, data=form) as response:
        body = await response.json()
    assert body["ok"] is True
    assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    async with session.get(url, params={"chat_id": "1001", "text": "query string"}) as response:
        assert (await response.json())["result"]["text"] == "query string"


async def test_callback_data_is_limited_to_64_bytes(api: Api, ada: int) -> None:
    for data, ok in [("x" * 64, True), ("x" * 65, False), ("é" * 32, True), ("é" * 33, False), ("", False)]:
        status, body = await api(
            "sendMessage", chat_id=ada, text="pick", reply_markup=keyboard({"text": "A", "callback_data": data})
        )
        assert body["ok"] is ok, (data, body)
        if not ok:
            assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_inline_keyboards_have_at_most_100_buttons(api: Api, ada: int) -> None:
    def rows(count: int) -> dict[str, Any]:
        buttons = [{"text": str(i), "callback_data": str(i)} for i in range(count)]
        return {"inline_keyboard": [buttons[i : i + 5] for i in range(0, count, 5)]}

    assert (await api("sendMessage", chat_id=ada, text="many", reply_markup=rows(100)))[0] == 200
    status, body = await api("sendMessage", chat_id=ada, text="too many", reply_markup=rows(101))
    assert (status, body["description"]) == (400, "Bad Request: REPLY_MARKUP_TOO_LONG")


@pytest.mark.parametrize(
    ("button", "description"),
    [
        ({"text": "plain"}, "Text buttons are unallowed in the inline keyboard"),
        ({"text": "two", "callback_data": "a", "url": "https://example.org"}, "exactly one of the optional fields"),
        ({"text": "", "callback_data": "a"}, "BUTTON_TEXT_INVALID"),
        ({"text": "link", "url": "javascript:alert(1)"}, "BUTTON_URL_INVALID"),
        ({"text": "link", "url": "example.org"}, "BUTTON_URL_INVALID"),
    ],
)
async def test_button_rules(api: Api, ada: int, button: dict[str, Any], description: str) -> None:
    status, body = await api("sendMessage", chat_id=ada, text="x", reply_markup=keyboard(button))
    assert status == 400
    assert description in body["description"]


async def test_url_buttons_accept_http_and_tg_links(api: Api, ada: int) -> None:
    markup = keyboard(
        {"text": "web", "url": "https://t.me/undersign_bot?start=x"}, {"text": "tg", "url": "tg://user?id=1"}
    )
    assert (await api("sendMessage", chat_id=ada, text="links", reply_markup=markup))[0] == 200


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("plain</b>", "Unexpected end tag at byte offset 5"),
        ("Hello <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 6'),
        ("Привет <br>", 'Unsupported start tag "br" at byte offset 13'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("Tom & Jerry", 'Character "&" at byte offset 4 must be escaped'),
        ("2 > 1", 'Character ">" at byte offset 2 must be escaped'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
        ('<a href="https://x.org">x', 'Can\'t find end tag corresponding to start tag "a"'),
    ],
)
async def test_html_that_telegram_cannot_parse(api: Api, ada: int, html: str, description: str) -> None:
    status, body = await api("sendMessage", chat_id=ada, text=html, parse_mode="HTML")
    assert status == 400
    assert body["description"].startswith(f"Bad Request: can't parse entities: {description}")


async def test_supported_html_is_rendered_to_plain_text_with_entities(api: Api, emulator: Emulator, ada: int) -> None:
    html = (
        '<b>Sign</b> the <i>letter</i> &amp; <a href="https://amnesty.org">read</a> '
        '<tg-spoiler>more</tg-spoiler> <span class="tg-spoiler">s</span> <code>c</code> '
        '<pre><code class="language-python">p</code></pre> <blockquote expandable>q</blockquote> '
        "&lt;3 &quot;x&quot; &#128512; &#x41; <u>u</u><s>s</s><strong>b</strong><em>e</em>"
    )
    status, body = await api("sendMessage", chat_id=ada, text=html, parse_mode="HTML")
    assert status == 200, body
    text = body["result"]["text"]
    assert text == 'Sign the letter & read more s c p q <3 "x" 😀 A usbe'
    types = {entity["type"] for entity in body["result"]["entities"]}
    assert {"bold", "italic", "text_link", "spoiler", "code", "pre", "expandable_blockquote"} <= types
    pre = next(e for e in body["result"]["entities"] if e["type"] == "pre")
    assert pre["language"] == "python"
    message = emulator.user(ada).last_message
    assert message is not None
    assert message.text == text
    assert message.html == html


async def test_text_length_is_counted_after_parsing_in_utf16(api: Api, ada: int) -> None:
    assert (await api("sendMessage", chat_id=ada, text="x" * 4096))[0] == 200
    status, body = await api("sendMessage", chat_id=ada, text="x" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    tagged = "<b>" + "x" * 4000 + "</b>" + "&amp;" * 96
    assert (await api("sendMessage", chat_id=ada, text=tagged, parse_mode="HTML"))[0] == 200
    assert (await api("sendMessage", chat_id=ada, text="😀" * 2048))[0] == 200
    assert (await api("sendMessage", chat_id=ada, text="😀" * 2049))[0] == 400
    status, body = await api("sendMessage", chat_id=ada, text="<b> </b>", parse_mode="HTML")
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")


async def test_captions_are_limited_to_1024(emulator: Emulator, session: aiohttp.ClientSession, ada: int) -> None:
    url = f"{emulator.base_url}/bot{emulator.token}/sendDocument"
    for caption, ok in [("c" * 1024, True), ("c" * 1025, False)]:
        form = aiohttp.FormData()
        form.add_field("chat_id", str(ada))
        form.add_field("caption", caption)
        form.add_field("document", b"a,b\n1,2\n", filename="export.csv", content_type="text/csv")
        async with session.post(url, data=form) as response:
            body = await response.json()
        assert body["ok"] is ok
    assert body["description"] == "Bad Request: message caption is too long"


async def test_uploads_are_recorded_with_name_and_bytes(
    emulator: Emulator, session: aiohttp.ClientSession, ada: int
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(ada))
    form.add_field("caption", "<b>Export</b>")
    form.add_field("parse_mode", "HTML")
    form.add_field("document", "attach://file1")
    form.add_field("file1", b"name,country\nAda,GB\n", filename="signatures.csv")
    async with session.post(f"{emulator.base_url}/bot{emulator.token}/sendDocument", data=form) as response:
        body = await response.json()
    assert body["ok"], body
    assert body["result"]["document"]["file_name"] == "signatures.csv"
    assert body["result"]["document"]["mime_type"] == "text/csv"
    message = await emulator.user(ada).wait_message()
    assert message.document is not None
    assert message.document.filename == "signatures.csv"
    assert message.document.data == b"name,country\nAda,GB\n"
    assert message.text == message.caption == "Export"
    # the file_id Telegram handed back can be sent again
    form = aiohttp.FormData({"chat_id": str(ada), "document": body["result"]["document"]["file_id"]})
    async with session.post(f"{emulator.base_url}/bot{emulator.token}/sendDocument", data=form) as response:
        assert (await response.json())["ok"]


async def test_photos_must_be_images(emulator: Emulator, session: aiohttp.ClientSession, ada: int) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big") + b"rest"
    url = f"{emulator.base_url}/bot{emulator.token}/sendPhoto"
    form = aiohttp.FormData({"chat_id": str(ada)})
    form.add_field("photo", png, filename="chart.png", content_type="image/png")
    async with session.post(url, data=form) as response:
        body = await response.json()
    assert body["result"]["photo"][0]["width"] == 640
    assert (await emulator.user(ada).wait_message()).photo == png
    form = aiohttp.FormData({"chat_id": str(ada)})
    form.add_field("photo", b"not an image", filename="chart.png")
    async with session.post(url, data=form) as response:
        assert (await response.json())["description"] == "Bad Request: IMAGE_PROCESS_FAILED"


async def test_chats_must_exist_and_be_started(api: Api, emulator: Emulator) -> None:
    status, body = await api("sendMessage", chat_id=424242, text="hi")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    emulator.user(2002)
    status, body = await api("sendMessage", chat_id=2002, text="hi")
    assert (status, body["description"]) == (403, "Forbidden: bot can't initiate conversation with a user")
    assert emulator.rejected == []  # state errors are not the bot's form errors


async def test_edits_not_found_and_not_modified(api: Api, emulator: Emulator, ada: int) -> None:
    markup = keyboard({"text": "A", "callback_data": "a"})
    _, sent = await api("sendMessage", chat_id=ada, text="<b>one</b>", parse_mode="HTML", reply_markup=markup)
    message_id = sent["result"]["message_id"]
    status, body = await api("editMessageText", chat_id=ada, message_id=9999, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")
    status, body = await api(
        "editMessageText", chat_id=ada, message_id=message_id, text="<b>one</b>", parse_mode="HTML", reply_markup=markup
    )
    assert status == 400
    assert body["description"].startswith("Bad Request: message is not modified: ")
    # same text but without the markup: the keyboard goes, as on Telegram
    status, body = await api(
        "editMessageText", chat_id=ada, message_id=message_id, text="<b>one</b>", parse_mode="HTML"
    )
    assert status == 200, body
    assert "reply_markup" not in body["result"]
    assert body["result"]["edit_date"] >= body["result"]["date"]
    user = emulator.user(ada)
    assert user.messages[-1].buttons == []
    assert user.messages[-1].edited is True
    status, body = await api("editMessageReplyMarkup", chat_id=ada, message_id=message_id, reply_markup=markup)
    assert status == 200
    assert [b.text for b in user.messages[-1].buttons[0]] == ["A"]


async def test_delete_message(api: Api, emulator: Emulator, ada: int) -> None:
    _, sent = await api("sendMessage", chat_id=ada, text="bye")
    message_id = sent["result"]["message_id"]
    assert (await api("deleteMessage", chat_id=ada, message_id=message_id))[1]["result"] is True
    assert all(m.message_id != message_id for m in emulator.user(ada).messages)
    status, body = await api("deleteMessage", chat_id=ada, message_id=message_id)
    assert (status, body["description"]) == (400, "Bad Request: message to delete not found")


async def test_answer_callback_query_rules(api: Api) -> None:
    status, body = await api("answerCallbackQuery", callback_query_id="123", text="x")
    assert (status, body["description"]) == (
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    status, body = await api("answerCallbackQuery", callback_query_id="123", text="x" * 201)
    assert (status, body["description"]) == (400, "Bad Request: MESSAGE_TOO_LONG")


async def test_commands_and_menu(api: Api) -> None:
    commands = [{"command": "start", "description": "Start"}, {"command": "language", "description": "Language"}]
    assert (await api("setMyCommands", commands=commands, language_code="de"))[1]["result"] is True
    assert (await api("getMyCommands", language_code="de"))[1]["result"] == commands
    assert (await api("getMyCommands"))[1]["result"] == []
    status, body = await api("setMyCommands", commands=[{"command": "Bad-Command", "description": "x"}])
    assert (status, body["description"]) == (400, "Bad Request: BOT_COMMAND_INVALID")
    assert (await api("deleteMyCommands", language_code="de"))[1]["result"] is True
    assert (await api("setChatMenuButton", menu_button={"type": "commands"}))[0] == 200
    status, body = await api("setChatMenuButton", menu_button={"type": "nonsense"})
    assert status == 400
    assert "can't parse menu_button: type must be one of" in body["description"]
    status, body = await api("setMyCommands", commands=commands, scope={"type": "chat", "chat_id": 1})
    assert status == 200
    assert (await api("close"))[1]["result"] is True


async def test_chat_actions(api: Api, ada: int) -> None:
    assert (await api("sendChatAction", chat_id=ada, action="typing"))[0] == 200
    status, body = await api("sendChatAction", chat_id=ada, action="dancing")
    assert (status, body["description"]) == (400, "Bad Request: wrong parameter action in request")


async def test_fault_injection(api: Api, emulator: Emulator, ada: int) -> None:
    emulator.fail_next(method="sendMessage", status=429, retry_after=3)
    assert await api("sendMessage", chat_id=ada, text="hi") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    assert (await api("sendMessage", chat_id=ada, text="hi"))[0] == 200  # only once
    emulator.fail_next(method="sendMessage", status=403, chat_id=ada)
    status, body = await api("sendMessage", chat_id=ada, text="hi")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    emulator.fail_next(method=None, status=400, description="Bad Request: something odd", times=2)
    assert (await api("getMe"))[1]["description"] == "Bad Request: something odd"
    assert (await api("getMe"))[1]["description"] == "Bad Request: something odd"
    emulator.fail_next(method="getMe", status=502)
    assert (await api("getMe"))[0] == 502
    assert (await api("getMe"))[0] == 200


async def test_a_blocked_user_refuses_every_send(api: Api, emulator: Emulator, ada: int) -> None:
    user = emulator.user(ada)
    user.block()
    for method, params in [("sendMessage", {"text": "hi"}), ("sendChatAction", {"action": "typing"})]:
        status, body = await api(method, chat_id=ada, **params)
        assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    user.unblock()
    assert (await api("sendMessage", chat_id=ada, text="hi"))[0] == 200


async def test_the_record_of_calls(api: Api, emulator: Emulator, ada: int) -> None:
    await api("sendMessage", chat_id=ada, text="hi")
    await api("sendMessage", chat_id=ada, text="<x>", parse_mode="HTML")
    sent = emulator.calls_to("sendMessage")
    assert [call.ok for call in sent] == [True, False]
    assert sent[0].params == {"chat_id": ada, "text": "hi"}
    assert sent[1].error_code == 400
    assert len(emulator.rejected) == 1
    assert emulator.rejected[0].method == "sendMessage"


async def test_many_concurrent_requests(api: Api, emulator: Emulator) -> None:
    users = [emulator.user(5000 + i) for i in range(50)]
    await asyncio.gather(*(user.send("/start") for user in users))
    results = await asyncio.gather(*(api("sendMessage", chat_id=user.id, text="hi") for user in users))
    assert all(status == 200 for status, _ in results)


# --- the HTML parser on its own --------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("😀 <b>x</b>", "😀 x", [{"type": "bold", "offset": 3, "length": 1}]),
        ("  <i>x</i>  ", "x", [{"type": "italic", "offset": 0, "length": 1}]),
        (
            "<a href='https://x.org/?a=1&amp;b=2'>l</a>",
            "l",
            [{"type": "text_link", "offset": 0, "length": 1, "url": "https://x.org/?a=1&b=2"}],
        ),
        (
            "<a>https://x.org</a>",
            "https://x.org",
            [{"type": "text_link", "offset": 0, "length": 13, "url": "https://x.org"}],
        ),
        (
            '<tg-emoji emoji-id="536">👍</tg-emoji>',
            "👍",
            [{"type": "custom_emoji", "offset": 0, "length": 2, "custom_emoji_id": "536"}],
        ),
        (
            '<tg-time unix="1700000000" format="wDT">now</tg-time>',
            "now",
            [{"type": "date_time", "offset": 0, "length": 3, "unix_time": 1700000000, "date_time_format": "wDT"}],
        ),
        (
            "<B>x</B><blockquote>q</blockquote>",
            "xq",
            [{"type": "bold", "offset": 0, "length": 1}, {"type": "blockquote", "offset": 1, "length": 1}],
        ),
        ("<b></b>x", "x", []),
    ],
)
def test_parse_html(html: str, text: str, entities: list[dict[str, Any]]) -> None:
    parsed = parse_html(html)
    assert (parsed.text, parsed.entities) == (text, entities)


def test_utf16_length() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("é") == 1
    assert utf16_length("😀") == 2


def test_the_spec_ships_with_the_emulator() -> None:
    spec = Spec.load()
    assert spec.version.startswith("Bot API")
    method = spec.method("SENDMESSAGE")
    assert method is not None
    assert method.name == "sendMessage"
    assert method.fields["chat_id"].types == ("Integer", "String")
