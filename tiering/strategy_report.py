"""The report section with the strategy per tier."""

from __future__ import annotations

from . import strategy
from .i18n import t
from .narrative import esc, heading


def section_strategy(a) -> str:
    lang = a.params.language
    playbook = strategy.load_playbook(a.params.strategy.playbook)
    return "".join([
        heading("report.sec_strategy", lang, anchor="strategy"),
        f'<p class="lead">{esc(t("report.strategy_lead", lang))}</p>',
        strategy.strategy_cards_html(a.strategies, language=lang),
        strategy.dormant_note_html(language=lang, playbook=playbook),
    ])



