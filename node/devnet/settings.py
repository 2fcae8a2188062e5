"""The devnet's settings: command-line values win, then those saved in devnet.json, then the defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from node.devnet.errors import DevnetError
from node.devnet.inputs import checksum, parse_address_arg
from node.devnet.params import DevnetSettings


class SettingChoices(Protocol):
    """What the user chose on the command line (None = not given), as node.devnet.up.UpOptions holds it."""

    @property
    def base_port(self) -> int | None: ...
    @property
    def executors(self) -> int | None: ...
    @property
    def block_time_ms(self) -> int | None: ...
    @property
    def censor(self) -> tuple[str, ...] | None: ...
    @property
    def l1_block_time_ms(self) -> int | None: ...
    @property
    def challenge_window(self) -> int | None: ...
    @property
    def game_clock(self) -> int | None: ...
    @property
    def faulty_proposer(self) -> int | None: ...
    @property
    def fault_mode(self) -> str | None: ...
    @property
    def faulty_challenger(self) -> bool | None: ...


def resolve_settings(options: SettingChoices, saved: dict[str, Any]) -> DevnetSettings:
    defaults = DevnetSettings()
    censor_specs = options.censor if options.censor is not None else tuple(saved.get("censor") or ())
    try:
        censor = tuple(sorted({checksum(parse_address_arg(spec, "--censor address")) for spec in censor_specs}))
        return DevnetSettings(
            base_port=_pick(options.base_port, saved.get("base_port"), defaults.base_port),
            executors=_pick(options.executors, saved.get("executors"), defaults.executors),
            block_time_ms=_pick(options.block_time_ms, saved.get("block_time_ms"), defaults.block_time_ms),
            censor=censor,
            l1_block_time_ms=_pick(options.l1_block_time_ms, saved.get("l1_block_time_ms"), defaults.l1_block_time_ms),
            challenge_window=_pick(options.challenge_window, saved.get("challenge_window"), defaults.challenge_window),
            game_clock=_pick(options.game_clock, saved.get("game_clock"), defaults.game_clock),
            faulty_proposer=options.faulty_proposer
            if options.faulty_proposer is not None
            else _saved_int(saved, "faulty_proposer"),
            fault_mode=options.fault_mode or str(saved.get("fault_mode") or defaults.fault_mode),
            faulty_challenger=(
                options.faulty_challenger
                if options.faulty_challenger is not None
                else saved.get("faulty_challenger") is True
            ),
        )
    except ValueError as exc:
        raise DevnetError(str(exc)) from None


def _saved_int(saved: dict[str, Any], key: str) -> int | None:
    value = saved.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _pick(given: int | None, saved: Any, default: int) -> int:
    if given is not None:
        return given
    if isinstance(saved, int) and not isinstance(saved, bool):
        return saved
    return default


@dataclass(frozen=True, slots=True)
class _NothingChosen:
    base_port: int | None = None
    executors: int | None = None
    block_time_ms: int | None = None
    censor: tuple[str, ...] | None = None
    l1_block_time_ms: int | None = None
    challenge_window: int | None = None
    game_clock: int | None = None
    faulty_proposer: int | None = None
    fault_mode: str | None = None
    faulty_challenger: bool | None = None


def saved_devnet_settings(saved: dict[str, Any]) -> DevnetSettings:
    """The settings a devnet.json's `settings` record (node.devnet.state.saved_settings) stands for."""
    return resolve_settings(_NothingChosen(), saved)
