"""Helpers shared by the tests of agreements and the tests that build on them."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_text(content: bytes) -> str:
    """The PDF's text, lines joined by blanks (a paragraph may wrap anywhere)."""
    pages = PdfReader(io.BytesIO(content)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


async def download(client, desk, plan_id: str, who: str = "collector"):
    return await client.get(f"/api/v1/plans/{plan_id}/agreement", headers=desk[who])
