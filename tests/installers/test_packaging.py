"""Packaging definitions that can be checked without building anything: the example
machine policy, the Group Policy templates, the WiX file-list generator, the PyInstaller
spec's data paths and the shell scripts' syntax. (The builds themselves run in
packaging/ci-check.sh and packaging/build-linux.sh.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from closeplan_desktop.core.domain.settings import SETTINGS
from closeplan_desktop.core.security.policy import read_policy_file

ROOT = Path(__file__).resolve().parents[2]  # the repository
PACKAGING = ROOT / "packaging"
WINDOWS = PACKAGING / "windows"
GP = "{http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions}"
WIX = "{http://schemas.microsoft.com/wix/2006/wi}"


def test_example_policy_sets_every_key_to_its_default() -> None:
    path = ROOT / "resources" / "policy.example.json"
    data = read_policy_file(path)  # valid for the app: it is installed as a conffile
    assert data == {key: spec.default for key, spec in SETTINGS.items()}
    assert list(json.loads(path.read_text())) == list(SETTINGS)


def test_group_policy_templates_are_current() -> None:
    r = subprocess.run([sys.executable, str(WINDOWS / "gen-admx.py"), "--check"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_admx_has_every_key_with_its_type_and_range() -> None:
    admx = ET.parse(WINDOWS / "ClosePlan.admx").getroot()  # noqa: S314 - our own file
    adml = ET.parse(WINDOWS / "en-US" / "ClosePlan.adml").getroot()  # noqa: S314
    strings = {s.get("id") for s in adml.iter(f"{GP}string")}
    presentations = {p.get("id") for p in adml.iter(f"{GP}presentation")}
    found: dict[str, ET.Element] = {}
    for policy in admx.iter(f"{GP}policy"):
        assert policy.get("key") == r"Software\Policies\ClosePlan\Desktop"
        assert policy.get("class") == "Machine"
        for attr in ("displayName", "explainText"):
            assert re.fullmatch(r"\$\(string\.(\w+)\)", policy.get(attr, ""))
            assert policy.get(attr, "")[9:-1] in strings
        assert policy.get("presentation", "")[15:-1] in presentations
        (element,) = list(policy.find(f"{GP}elements") or [])
        found[element.get("valueName", "")] = element
    assert set(found) == set(SETTINGS)
    for key, spec in SETTINGS.items():
        element = found[key]
        if spec.type is int:
            assert element.tag == f"{GP}decimal"  # REG_DWORD
            assert element.get("storeAsText") in (None, "false")
            assert int(element.get("minValue", "")) == spec.minimum
            assert int(element.get("maxValue", "")) == spec.maximum
        else:
            assert element.tag == f"{GP}text"  # REG_SZ


def _gen_wxs(tree: Path, out: Path, *exclude: str) -> str:
    args = [sys.executable, str(WINDOWS / "gen-wxs-files.py"), str(tree), str(out)]
    for name in exclude:
        args += ["--exclude", name]
    subprocess.run(args, check=True, capture_output=True)
    return out.read_text(encoding="utf-8")


def test_wxs_file_list_is_stable_and_complete(tmp_path: Path) -> None:
    tree = tmp_path / "onedir"
    for rel in ("closeplan-desktop.exe", "closeplan-admin.exe", "_internal/a.dll",
                "_internal/PySide6/plugins/platforms/qwindows.dll",
                "_internal/closeplan_desktop/resources/icons/closeplan.svg",
                "_internal/name with spaces & more.txt"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(b"x")
    (tree / "_internal" / "empty").mkdir()
    text = _gen_wxs(tree, tmp_path / "a.wxs", "closeplan-desktop.exe", "closeplan-admin.exe")
    assert text == _gen_wxs(tree, tmp_path / "b.wxs", "closeplan-desktop.exe",
                            "closeplan-admin.exe")  # same ids and GUIDs every build
    root = ET.fromstring(text)  # noqa: S314 - generated here
    files = list(root.iter(f"{WIX}File"))
    components = list(root.iter(f"{WIX}Component"))
    assert len(files) == len(components) == 4
    assert {f.get("Name") for f in files} == {"a.dll", "qwindows.dll", "closeplan.svg",
                                             "name with spaces & more.txt"}
    ids = [e.get("Id", "") for e in root.iter()
           if e.tag in (f"{WIX}Directory", f"{WIX}Component", f"{WIX}File")]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"\w{1,72}", i) for i in ids)
    guids = [c.get("Guid", "") for c in components]
    assert all(re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", g) for g in guids)
    assert len(set(guids)) == len(guids)
    assert "empty" not in text
    refs = {r.get("Id") for r in root.iter(f"{WIX}ComponentRef")}
    assert refs == {c.get("Id") for c in components}


def test_wxs_main_definition() -> None:
    root = ET.parse(WINDOWS / "closeplan-desktop.wxs").getroot()  # noqa: S314 - our own file
    product = root.find(f"{WIX}Product")
    assert product is not None
    assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}",
                        product.get("UpgradeCode", ""))
    package = product.find(f"{WIX}Package")
    assert package is not None and package.get("InstallScope") == "perMachine"
    assert product.find(f"{WIX}MajorUpgrade") is not None
    shortcuts = list(root.iter(f"{WIX}Shortcut"))
    assert shortcuts and shortcuts[0].get("Target") == "[INSTALLDIR]closeplan-desktop.exe"


def test_spec_bundles_what_the_app_looks_up() -> None:
    spec = (PACKAGING / "closeplan-desktop.spec").read_text()
    # ui/icons.py resource_dir(): resources inside the package when frozen.
    assert '"closeplan_desktop/resources"' in spec
    # core/workspace.py: Alembic's script_location is core/migrations beside the module.
    assert '"closeplan_desktop/core/store/migrations"' in spec
    assert 'copy_metadata("keyring")' in spec
    assert "keyring.backends.SecretService" in spec
    assert 'name="closeplan-desktop"' in spec and 'name="closeplan-admin"' in spec


@pytest.mark.parametrize("script", sorted(p.name for p in PACKAGING.rglob("*.sh")))
def test_packaging_scripts_parse(script: str) -> None:
    (path,) = [p for p in PACKAGING.rglob(script)]
    r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
