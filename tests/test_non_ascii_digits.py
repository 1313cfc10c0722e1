"""Numbers typed by people or read from mail are plain ASCII digits: ``"²".isdigit()`` is True, ``int("²")`` raises.

Each place below once guarded an ``int()`` with ``isdigit()`` alone, so a superscript
or another script's digit became a traceback instead of a clean answer.
"""

from __future__ import annotations

import click
import pytest
from sqlmodel import Session, SQLModel, create_engine

from mailer.campaigns import CampaignError, load_campaign
from responsemaster.cli.init_cmd import parse_relay
from responsemaster.ingest.mbox_source import split_key


@pytest.mark.parametrize("digit", ["²", "٣", "①"])
def test_an_mbox_key_with_a_non_ascii_index_is_a_plain_path(digit: str) -> None:
    assert split_key(f"box.mbox#{digit}") == (f"box.mbox#{digit}", 0)
    assert split_key("box.mbox#12") == ("box.mbox", 12)


@pytest.mark.parametrize("digit", ["²", "٣", "①"])
def test_a_relay_port_in_other_digits_is_a_bad_parameter(digit: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_relay(f"smtp.example.org:{digit}")
    assert parse_relay("smtp.example.org:587") == ("smtp.example.org", 587)


@pytest.mark.parametrize("digit", ["²", "٣"])
def test_a_campaign_named_by_other_digits_is_looked_up_by_name(digit: str) -> None:
    import responsemaster.store.models  # noqa: F401 - registers every table

    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session, pytest.raises(CampaignError, match="no campaign"):
        load_campaign(session, digit)
