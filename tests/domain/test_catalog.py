"""The catalogue labels exactly the codes the rules use, in every language, and says what
each result code requires as the recording rules do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import catalog
from app.domain.contact_check import (
    PACKS,
    REASON_CODES,
    RESULT_CODES,
    ContactChannel,
    ContactRequest,
    DebtorFlag,
    Party,
    StrategyLimits,
    check_contact,
    past_contact,
)
from app.domain.geography import COUNTRY_ZONES
from app.domain.interactions import NOT_ASKED, PROBLEM_CATEGORIES
from app.i18n import LANGUAGES, LOCALE_DIR, labels, translate, untranslated
from tests.helpers.i18n import english_words

APP = Path(__file__).resolve().parents[2] / "app"


def test_every_code_of_the_rules_has_a_label_and_no_label_is_stale():
    assert set(catalog.RESULT_LABELS) == RESULT_CODES
    assert set(catalog.PROBLEM_CATEGORY_LABELS) == PROBLEM_CATEGORIES | {NOT_ASKED}
    assert set(catalog.FLAG_LABELS) == set(DebtorFlag)
    assert set(catalog.CHANNEL_LABELS) == set(ContactChannel)
    assert set(catalog.REASON_LABELS) == REASON_CODES
    assert set(catalog.ESCALATION_OUTCOME_LABELS) == set(catalog.EscalationOutcome)


def _marked_texts() -> set[str]:
    """Every text marked N_ in the code, as `make messages` extracts it."""
    found = extract_from_dir(
        str(APP), method_map=[("**.py", "python")], keywords={"N_": None}, comment_tags=()
    )
    return {message for _file, _line, message, _comments, _context in found}


def test_the_template_holds_every_marked_text():
    with (LOCALE_DIR / "cartera.pot").open("rb") as template:
        in_template = {message.id for message in read_po(template) if message.id}
    missing = _marked_texts() - in_template
    assert not missing, f"run `make messages`: {sorted(missing)}"


def test_every_marked_text_is_translated_in_every_language():
    texts = _marked_texts()
    assert texts, "no text marked for translation found"
    for language in LANGUAGES:
        assert untranslated(texts, language) == set(), language


def test_labels_differ_by_language_where_the_words_do():
    promise = labels(catalog.RESULT_LABELS["RPC_PTP"])
    assert promise == {
        "en": "Promise to pay",
        "es": "Promesa de pago",
        "pt-BR": "Promessa de pagamento",
    }


class TestResultRequirements:
    """Read against app/domain/interactions.py `check_interaction`, which enforces them."""

    def test_a_right_party_contact_asks_for_the_pcr_and_the_debtor(self):
        for code in ("RPC", "RPC_REFUSE", "RPC_DISPUTE", "RPC_PAID"):
            entry = catalog.result_code_entry(code)
            assert entry.requires == {
                catalog.Requirement.PCR,
                catalog.Requirement.DEBTOR_REACHED,
            }, code
            assert entry.conversation

    def test_a_promise_asks_for_its_amount_and_date_too(self):
        assert catalog.Requirement.PROMISE in catalog.result_code_entry("RPC_PTP").requires

    def test_a_callback_asks_for_the_time_agreed(self):
        assert (
            catalog.Requirement.CALLBACK_TIME in catalog.result_code_entry("RPC_CALLBACK").requires
        )

    def test_address_results_belong_to_visits_with_a_position(self):
        for code in ("ADDRESS_VERIFIED", "ADDRESS_NOT_FOUND", "MOVED"):
            entry = catalog.result_code_entry(code)
            assert entry.channels == {ContactChannel.VISIT}
            assert entry.requires == {catalog.Requirement.GPS}

    def test_a_third_party_contact_is_a_conversation_with_someone_else(self):
        entry = catalog.result_code_entry("TPC")
        assert entry.requires == {catalog.Requirement.THIRD_PARTY_REACHED}
        assert entry.conversation

    def test_results_that_stop_contact_name_their_flag(self):
        assert catalog.result_code_entry("CEASE_REQUEST").raises_flag is DebtorFlag.CEASE_CONTACT
        assert catalog.result_code_entry("NO_ANSWER").raises_flag is None
        assert catalog.result_code_entry("WRONG_NUMBER").invalidates_contact_point


@st.composite
def contact_requests(draw):
    """A country's pack and a contact request of any shape the rules read."""
    country = draw(st.sampled_from(sorted(PACKS)))
    at = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 24 * 7)))
    channels = st.sampled_from(list(ContactChannel))
    past = draw(
        st.lists(
            st.tuples(
                st.integers(1, 24 * 10),
                channels,
                st.sampled_from(sorted(RESULT_CODES)),
                st.booleans(),
            ),
            max_size=12,
        )
    )
    request = ContactRequest(
        at=at,
        channel=draw(channels),
        party=draw(st.sampled_from(list(Party))),
        time_zone=COUNTRY_ZONES[country][0],
        account_status=draw(st.sampled_from(["active", "recalled", "closed", "suspended"])),
        paused=draw(st.booleans()),
        flags=draw(st.frozensets(st.sampled_from(list(DebtorFlag)))),
        consented_channels=draw(st.one_of(st.none(), st.frozensets(channels))),
        opted_out_channels=draw(st.frozensets(channels)),
        history=[
            past_contact(at - timedelta(hours=back), ch, Party.DEBTOR, code, same_debt=same)
            for back, ch, code, same in past
        ],
        strategy=draw(
            st.builds(
                StrategyLimits,
                allowed_channels=st.one_of(st.none(), st.frozensets(channels)),
                per_day=st.dictionaries(channels, st.integers(0, 3)),
                per_week=st.dictionaries(channels, st.integers(0, 5)),
                visits_allowed=st.booleans(),
                older_adult_debtors_vulnerable=st.booleans(),
                calls_across_debts=st.booleans(),
            )
        ),
        contact_point_valid=draw(st.booleans()),
        party_flags=draw(
            st.frozensets(st.sampled_from([DebtorFlag.MINOR, DebtorFlag.OLDER_ADULT]))
        ),
    )
    return PACKS[country], request


@settings(max_examples=400, deadline=None)
@given(case=contact_requests())
def test_no_contact_check_gives_a_code_the_catalogue_lacks(case):
    pack, request = case
    given_codes = {reason.code for reason in check_contact(pack, request).reasons}
    assert given_codes <= REASON_CODES


@settings(max_examples=400, deadline=None)
@given(case=contact_requests())
def test_every_reason_a_check_gives_reads_without_english_in_spanish_and_portuguese(case):
    """Every reason the pack gives (with its values: countries, windows, days, channels,
    counts) rendered for a Spanish and a Brazilian reader: a text of their own, with no
    English sentence left; the citation stays as the statute says it."""
    pack, request = case
    decision = check_contact(pack, request)
    for reason in decision.reasons:
        english = reason.text.render("en")
        assert english == reason.message
        for language in ("es", "pt-BR"):
            shown = reason.text.render(language)
            assert shown != english, (reason.code, shown)
            assert not english_words(shown), (reason.code, language, shown)
            assert "{" not in shown and "?" not in shown, shown
    for language in ("es", "pt-BR"):
        script = translate(decision.script, language)
        assert script != decision.script and not english_words(script), script
