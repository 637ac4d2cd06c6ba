"""Instagram and Eitaa start with `peygir serve` when configured and stay off when not."""

from pathlib import Path

from peygir.bots.core import Core
from peygir.config.settings import Settings


async def test_off_unless_configured(tmp_path: Path) -> None:
    core = Core.build(Settings(_env_file=None, database_url=f"sqlite://{tmp_path}/a.db"))
    assert core.channel("instagram") is None and core.channel("eitaa") is None


async def test_on_when_configured(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite://{tmp_path}/a.db",
                        instagram_username="city137", instagram_session=tmp_path / "s.json",
                        eitaa_token="t0ken", instagram_poll_interval=90)
    core = Core.build(settings)
    instagram, eitaa = core.channel("instagram"), core.channel("eitaa")
    assert instagram is not None and instagram.interval == 90 and instagram.password is None
    assert eitaa is not None and eitaa.sender.url.endswith("/t0ken/sendMessage")  # type: ignore[attr-defined]
    await instagram.stop()
    await eitaa.stop()
