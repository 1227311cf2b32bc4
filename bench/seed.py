"""Fast, realistic signature rows for the benchmarks, loaded with PostgreSQL ``COPY``.

Row-by-row ``INSERT``s would take tens of minutes for a million signatures;
``COPY`` through asyncpg's ``copy_records_to_table`` takes seconds, so the
benchmark measures the organiser tools and not its own set-up.

The shape follows a real campaign rather than uniform noise, because the
aggregates' cost depends on it: a few countries and languages dominate (a
Zipf-like long tail), most signers come without a source, signatures spike
after the launch and after each share wave, and names are written in Latin,
Cyrillic, Arabic (incl. Uyghur), CJK and more.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

COLUMNS = (
    "campaign",
    "telegram_user_id",
    "name",
    "country",
    "language",
    "source",
    "referral_code",
    "opt_in",
    "signed_at",
    "letter_version",
    "consent_version",
    "receipt",
)

LANGUAGES = (
    "en", "ar", "de", "es", "fa", "fr", "id", "it", "kk",
    "ky", "pt_BR", "ru", "tr", "ug", "ur", "uz", "zh_Hans", "zh_Hant",
)  # fmt: skip

COUNTRIES = (
    "US", "DE", "GB", "TR", "FR", "KZ", "ID", "PK", "CA", "AU", "NL", "SE", "IT", "ES", "BR",
    "RU", "KG", "UZ", "SA", "AE", "EG", "MY", "IR", "JP", "TW", "HK", "NO", "DK", "FI", "BE",
    "CH", "AT", "PL", "IE", "NZ", "MX", "AR", "CL", "CO", "PE", "ZA", "NG", "KE", "MA", "DZ",
    "TN", "JO", "QA", "KW", "BD", "IN", "AF", "AZ", "TJ", "TM", "MN", "KR", "SG", "PH", "PT",
)  # fmt: skip

SOURCES = tuple(
    [f"share_{n:02d}" for n in range(1, 16)]
    + ["amnesty_newsletter", "amnesty_de", "amnesty_uk", "amnesty_fr", "uyghur_congress", "tw_post", "fb_group"]
    + ["insta_story", "yt_video", "podcast_ep12", "press_release", "mastodon", "bsky", "email_wave2", "qr_poster"]
)

GIVEN = (
    "Anna", "Lukas", "Sophie", "James", "Maria", "José", "Zoë", "Chloé", "Łukasz", "Søren",
    "Айгерим", "Дмитрий", "Наталья", "Нурлан", "Айжан",
    "محمد", "فاطمة", "علي", "زينب", "مريم",
    "ئابدۇرەھىم", "گۈلنار", "ئەخمەت", "مەرىيەم",
    "李", "王", "张", "陳", "林", "佐藤", "さくら",
    "Ayşe", "Mehmet", "Nguyễn", "Siti", "Putri",
)  # fmt: skip

FAMILY = (
    "Müller", "Smith", "García", "O'Brien", "Dubois", "Rossi", "Kowalski", "Johansson", "da Silva",
    "Иванова", "Сериков", "Ахметова",
    "الحسن", "عبد الله", "رضایی",
    "تۇرسۇن", "قادىر",
    "明", "伟", "芳", "志明", "太郎",
    "Yılmaz", "Öztürk", "Wijaya", "van der Berg", "Nakamura",
)  # fmt: skip

LETTER_VERSIONS = ("3f9a1c2b7d10", "a81e44c09b2f", "c07d5e3a9e61")
CONSENT_VERSION = "consent-v1"


def _zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


def _day_weights(days: int) -> list[float]:
    """A launch spike, a slow decay and two later share waves."""
    weights = []
    for day in range(days):
        weight = 1.0 + 12.0 * (0.85**day)
        for wave in (30, 61):
            if day >= wave:
                weight += 5.0 * (0.8 ** (day - wave))
        weights.append(weight)
    return weights


def _referral_code(index: int) -> str:
    """Unique per row (a random code could collide across a million rows); 8 URL-safe characters."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    chars = []
    value = index
    for _ in range(8):
        chars.append(alphabet[value % 64])
        value //= 64
    return "".join(chars)


def _receipt(index: int) -> str:
    """Unique per row like the referral code, in the receipts' alphabet (Crockford base32, 8 characters)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = (index * 0x9E3779B1) % (32**8)  # a bijection on 40 bits: unique, and not sequential-looking
    return "".join(alphabet[(value >> (5 * n)) & 31] for n in range(8))


def signature_rows(
    campaign: str,
    count: int,
    *,
    end: datetime,
    days: int = 90,
    seed: int = 2026,
    first_user_id: int = 10_000_000,
    code_offset: int = 0,
) -> Iterator[tuple[object, ...]]:
    """``count`` rows in ``COLUMNS`` order, signed over the ``days`` days before ``end``."""
    rng = random.Random(seed)
    countries = rng.choices(COUNTRIES, weights=_zipf_weights(len(COUNTRIES)), k=count)
    languages = rng.choices(LANGUAGES, weights=_zipf_weights(len(LANGUAGES), 0.9), k=count)
    with_source = [*SOURCES, None]
    source_weights = [*_zipf_weights(len(SOURCES)), 3.0]  # about 45% come without a source
    sources = rng.choices(with_source, weights=source_weights, k=count)
    day_offsets = rng.choices(range(days), weights=_day_weights(days), k=count)
    letters = rng.choices(LETTER_VERSIONS, weights=(0.2, 0.3, 0.5), k=count)
    start = end - timedelta(days=days)
    for index in range(count):
        seconds = rng.randrange(86_400)
        signed_at = start + timedelta(days=day_offsets[index], seconds=seconds)
        yield (
            campaign,
            first_user_id + index,
            f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
            countries[index],
            languages[index],
            sources[index],
            _referral_code(code_offset + index),
            rng.random() < 0.35,
            min(signed_at, end),
            letters[index],
            CONSENT_VERSION,
            _receipt(code_offset + index),
        )


def _chunks(rows: Iterator[tuple[object, ...]], size: int) -> Iterator[Sequence[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def copy_signatures(
    connection: asyncpg.Connection,
    campaign: str,
    count: int,
    *,
    end: datetime | None = None,
    code_offset: int = 0,
    first_user_id: int = 10_000_000,
    seed: int = 2026,
) -> None:
    """Load ``count`` rows with ``COPY`` in chunks (bounded memory on the client)."""
    end = end or datetime.now(UTC)
    rows = signature_rows(campaign, count, end=end, seed=seed, first_user_id=first_user_id, code_offset=code_offset)
    for chunk in _chunks(rows, 100_000):
        await connection.copy_records_to_table("signatures", records=chunk, columns=COLUMNS)


async def _seed(url: str, campaign: str, rows: int, code_offset: int, first_user_id: int, seed: int) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
        timeout=10,
    )
    try:
        await copy_signatures(
            connection, campaign, rows, code_offset=code_offset, first_user_id=first_user_id, seed=seed
        )
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> None:
    """Seed in a process of its own, so the rows built here do not inflate the RSS measured later."""
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=main.__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--campaign", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--code-offset", type=int, default=0, help="first referral-code number (codes are unique)")
    parser.add_argument("--first-user-id", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    asyncio.run(_seed(args.database_url, args.campaign, args.rows, args.code_offset, args.first_user_id, args.seed))


if __name__ == "__main__":
    main()
