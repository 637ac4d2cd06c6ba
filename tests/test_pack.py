import subprocess
import sys
from pathlib import Path

import pytest

from peygir.config.pack import Pack, PackError, check_pack, load_pack

GOOD_SERVICE = """\
  - service_code: asphalt
    service_name: آسفالت
    group: فنی و عمرانی
    jurisdiction: municipal
    keywords: [آسفالت, چاله]
"""
GOOD_FAQ = """\
faqs:
  - id: hours
    question: ساعت کاری؟
    answer: شبانه‌روزی.
"""


def write_pack(folder: Path, services: str, faq: str = GOOD_FAQ) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "services.yaml").write_text(services, encoding="utf-8")
    (folder / "faq.yaml").write_text(faq, encoding="utf-8")
    return folder


def problems_of(folder: Path) -> list[str]:
    pack, problems = check_pack(folder)
    assert pack is None
    return [str(p) for p in problems]


def test_default_pack_covers_a_city(default_pack: Pack) -> None:
    assert len(default_pack.services) >= 40
    assert len(default_pack.faqs) >= 70
    groups = {s.group for s in default_pack.services}
    assert len(groups) >= 7
    referrals = {s.service_code for s in default_pack.services if s.is_referral}
    outside = {"ext_water", "ext_power", "ext_gas", "ext_telecom", "ext_police", "ext_fire"}
    assert outside <= referrals
    assert all(default_pack.service_by_code[c].referral_phone for c in referrals)
    assert any(s.urgent for s in default_pack.services)


def test_eval_pack_loads(eval_pack: Pack) -> None:
    assert len(eval_pack.services) == 45
    assert len(eval_pack.faqs) == 50


def test_referral_body_and_phone_are_parsed(eval_pack: Pack) -> None:
    water = eval_pack.service_by_code["ext_water"]
    assert water.is_referral and water.referral_phone == "۱۲۲"
    assert "آب" in (water.referral_body or "")


def test_every_problem_is_named(tmp_path: Path) -> None:
    services = "services:\n" + GOOD_SERVICE + GOOD_SERVICE + """\
  - service_code: trees
    group: فضای سبز
    jurisdiction: municipal
    keywords: [درخت]
    colour: green
  - service_code: ext_water
    service_name: آب
    group: ارجاع
    jurisdiction: municipal
    keywords: [لوله]
"""
    faq = GOOD_FAQ + """\
  - id: hours
    question: باز؟
    answer: بله.
  - id: fees
    question: عوارض؟
"""
    found = problems_of(write_pack(tmp_path / "bad", services, faq))
    text = "\n".join(found)
    assert "asphalt field 'service_code': duplicate service code" in text
    assert "trees field 'service_name': required field is missing" in text
    assert "trees field 'colour': unknown field" in text
    assert "ext_water field 'jurisdiction'" in text
    assert "hours field 'id': duplicate FAQ id" in text
    assert "fees field 'answer': required field is missing" in text
    assert all(line.startswith(("services.yaml:", "faq.yaml:")) for line in found)


def test_yaml_syntax_error_has_a_line_number(tmp_path: Path) -> None:
    broken = "services:\n" + GOOD_SERVICE + "  - service_code: [unclosed\n    group: x\n"
    found = problems_of(write_pack(tmp_path / "syntax", broken))
    assert len(found) == 1
    assert found[0].startswith("services.yaml:8:") or found[0].startswith("services.yaml:9:")
    assert "YAML syntax error" in found[0]


def test_missing_folder_and_files(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    found = problems_of(tmp_path / "empty")
    assert any("services.yaml" in p and "missing" in p for p in found)
    with pytest.raises(PackError, match="problem"):
        load_pack(tmp_path / "empty")


def run_cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peygir", *args], capture_output=True, text=True, timeout=60,
        **kwargs,  # type: ignore[arg-type]
    )


def test_cli_pack_check(tmp_path: Path) -> None:
    ok = run_cli("pack", "check", str(Path(__file__).parent.parent / "config" / "pack"))
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout
    services = "services:\n" + GOOD_SERVICE + GOOD_SERVICE
    bad = run_cli("pack", "check", str(write_pack(tmp_path / "dup", services)))
    assert bad.returncode != 0
    assert "asphalt" in bad.stderr and "service_code" in bad.stderr


def test_serve_refuses_a_broken_pack_clearly(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "PEYGIR_PACK": str(write_pack(tmp_path / "p", "services: [\n")),
           "PEYGIR_DATABASE_URL": f"sqlite://{tmp_path / 'x.db'}"}
    result = run_cli("serve", env=env)
    assert result.returncode == 2
    assert "cannot start" in result.stderr and "YAML syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def square(code: str, west: float, south: float, size: float = 0.01) -> dict[str, object]:
    ring = [[west, south], [west + size, south], [west + size, south + size],
            [west, south + size], [west, south]]
    return {"type": "Feature", "properties": {"code": code, "name": code},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def test_units_districts_and_deadlines_are_checked(tmp_path: Path) -> None:
    import json

    folder = write_pack(tmp_path / "city", "services:\n" + GOOD_SERVICE)
    bow_tie = {"type": "Feature", "properties": {"code": "bad"}, "geometry": {
        "type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}
    (folder / "districts.geojson").write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [square("d1", 48.5, 34.8), square("d1", 48.6, 34.8), bow_tie,
                     {"type": "Feature", "properties": {}, "geometry": None}],
    }), encoding="utf-8")
    (folder / "units.yaml").write_text("""\
units:
  - code: works
    name: فنی
    districts: [d1, d9]
    services: [asphalt, nosuch]
  - code: works2
    name: فنی دو
    districts: [d1]
    services: [asphalt]
    groups: [گروه ناموجود]
  - code: idle
    name: بی‌کار
    colour: red
""", encoding="utf-8")
    (folder / "deadlines.yaml").write_text(
        "first_answer_hours: -1\nescalate:\n  - {after_hours: 72, to: deputy}\n"
        "  - {after_hours: 24, to: manager}\n", encoding="utf-8")
    found = problems_of(folder)
    expected = [
        "districts.geojson: d1 field 'properties.code': duplicate district code",
        "districts.geojson: bad field 'geometry': polygon is empty or crosses itself",
        "districts.geojson: feature #4 field 'properties.code': missing district code",
        "units.yaml: works field 'districts': unknown district 'd9'",
        "units.yaml: works field 'services': unknown service code 'nosuch'",
        "units.yaml: works2 field 'groups': unknown service group 'گروه ناموجود'",
        "units.yaml: works2 field 'services': service 'asphalt' in district 'd1' is already "
        "served by unit 'works'",
        "units.yaml: idle field 'colour': unknown field",
        "deadlines.yaml: field 'first_answer_hours': Input should be greater than 0",
    ]
    for line in expected:
        assert line in found, (line, found)


def test_routing_prefers_the_district_unit(tmp_path: Path) -> None:
    import json

    folder = write_pack(tmp_path / "city", "services:\n" + GOOD_SERVICE)
    (folder / "districts.geojson").write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [square("d1", 48.50, 34.80), square("d2", 48.51, 34.80)]}))
    (folder / "units.yaml").write_text("""\
units:
  - {code: citywide, name: شهری, groups: [فنی و عمرانی]}
  - {code: d2_works, name: منطقه ۲, districts: [d2], services: [asphalt]}
""")
    city = load_pack(folder).city
    assert city.district_at(34.805, 48.505).code == "d1"  # type: ignore[union-attr]
    assert city.district_at(34.805, 48.515).code == "d2"  # type: ignore[union-attr]
    assert city.district_at(35.0, 48.0) is None
    assert city.unit_for("asphalt", "فنی و عمرانی", "d2").code == "d2_works"  # type: ignore[union-attr]
    assert city.unit_for("asphalt", "فنی و عمرانی", "d1").code == "citywide"  # type: ignore[union-attr]
    assert city.unit_for("asphalt", "فنی و عمرانی", None).code == "citywide"  # type: ignore[union-attr]
    assert city.unit_for("trees", "فضای سبز", "d1") is None
