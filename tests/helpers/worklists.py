"""Helpers shared by the tests of worklists and the tests that build on them."""

from __future__ import annotations

from app.models.debtor import ContactPoint


async def add_phone(session, account, zone: str, value: str = "+525512345678") -> ContactPoint:
    point = ContactPoint(
        partner_id=account.partner_id,
        account_id=account.id,
        debtor_id=account.debtor_id,
        kind="phone",
        value=value,
        time_zone=zone,
    )
    session.add(point)
    await session.flush()
    return point
