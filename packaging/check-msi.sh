#!/usr/bin/env bash
# Tests the Windows installer definition on Linux (the real MSI is built on a Windows
# runner: .github/workflows/release.yml):
#
#   1. generates the file list (packaging/windows/gen-wxs-files.py) and compiles
#      packaging/windows/closeplan-desktop.wxs with wixl (msitools) into an x64 MSI;
#   2. reads the MSI's tables back (msiinfo): per-machine, the fixed UpgradeCode, the
#      major-upgrade rows, the Start menu shortcut, one File row per file;
#   3. signs it with osslsigncode and a throwaway self-signed code-signing certificate
#      made here with openssl (deleted at the end), verifies the signature, and checks
#      that a copy with one changed byte fails verification;
#   4. checks that the ADMX/ADML templates match the settings registry
#      (core/domain/settings.py) and are well-formed.
#
# THE MSI BUILT HERE IS NOT A WINDOWS PROGRAM. The Windows executables come from a
# Windows runner; here the two .exe entries are stand-ins: the Linux onedir's ELF
# executables under .exe names, with the Linux _internal/ folder as the file tree (so
# the generator and wixl run over a real tree of some 1,000 files). Build that onedir
# first (packaging/build-onedir.sh), or pass another folder: check-msi.sh [ONEDIR].
# With --small, a stand-in tree of a few files is used instead (no onedir needed).
#
# Outputs go to build/msi/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

small=0
onedir="dist/closeplan-desktop"
for arg in "$@"; do
  case "$arg" in
    --small) small=1 ;;
    -*) echo "check-msi.sh: unknown option $arg" >&2; exit 2 ;;
    *) onedir="$arg" ;;
  esac
done

need=()
for tool in wixl:wixl msiinfo:msitools osslsigncode:osslsigncode openssl:openssl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
. packaging/lib.sh
apt_install "${need[@]}"
python="python3"
[ -x .venv/bin/python ] && python=".venv/bin/python"
VERSION="$($python -c 'import closeplan_desktop as c; print(c.__version__)' 2>/dev/null \
  || sed -n 's/^__version__ = "\(.*\)"/\1/p' closeplan_desktop/__init__.py)"

out="build/msi"
rm -rf "$out"
mkdir -p "$out"
stand="$out/stand-in"
if [ "$small" -eq 1 ]; then
  echo "== Stand-in tree: a few small files (--small)"
  mkdir -p "$stand/_internal/closeplan_desktop/resources/icons"
  printf 'stand-in, not a Windows program\n' >"$stand/closeplan-desktop.exe"
  printf 'stand-in, not a Windows program\n' >"$stand/closeplan-admin.exe"
  cp resources/icons/closeplan.svg "$stand/_internal/closeplan_desktop/resources/icons/"
  cp resources/policy.example.json "$stand/_internal/"
else
  [ -x "$onedir/closeplan-desktop" ] || {
    echo "check-msi.sh: no onedir at $onedir: run packaging/build-onedir.sh first, or use --small" >&2
    exit 1; }
  echo "== Stand-in tree: $onedir (Linux files; the .exe entries are Linux ELF stand-ins)"
  mkdir -p "$stand"
  cp -al "$onedir/_internal" "$stand/_internal" 2>/dev/null || cp -a "$onedir/_internal" "$stand/"
  cp "$onedir/closeplan-desktop" "$stand/closeplan-desktop.exe"
  cp "$onedir/closeplan-admin" "$stand/closeplan-admin.exe"
fi
nfiles="$(find -L "$stand" -type f | wc -l)"  # a symlink is installed as a file

echo "== Generating the file list and compiling with wixl"
$python packaging/windows/gen-wxs-files.py "$stand" "$out/files.wxs" \
  --exclude closeplan-desktop.exe --exclude closeplan-admin.exe
msi="$out/ClosePlan-Desktop-$VERSION-x64.msi"
t0=$SECONDS
wixl -a x64 -D "Version=$VERSION" -D "SourceDir=$stand" -o "$msi" \
  packaging/windows/closeplan-desktop.wxs "$out/files.wxs" \
  2> >(grep -v "has no property named .Platform." >&2)  # WiX 3 needs it; wixl uses -a
echo "compiled $msi ($(du -h "$msi" | cut -f1), $((SECONDS - t0)) s)"

echo "== Checking the MSI tables"
fail() { echo "check-msi.sh: $*" >&2; exit 1; }
upgrade_code="$(sed -n 's/.*UpgradeCode="\([0-9A-F-]*\)".*/\1/p' packaging/windows/closeplan-desktop.wxs)"
msiinfo export "$msi" Property >"$out/Property.idt"
grep -q "^UpgradeCode	{$upgrade_code}" "$out/Property.idt" || fail "UpgradeCode $upgrade_code missing"
grep -q "^ALLUSERS	1" "$out/Property.idt" || fail "not a per-machine package (ALLUSERS != 1)"
grep -q "^ProductVersion	$VERSION" "$out/Property.idt" || fail "ProductVersion is not $VERSION"
msiinfo export "$msi" Upgrade >"$out/Upgrade.idt"
grep -q "{$upgrade_code}" "$out/Upgrade.idt" || fail "no major-upgrade row for the UpgradeCode"
# (exported to files first: grep -q closing a pipe early fails it under pipefail)
msiinfo export "$msi" InstallExecuteSequence >"$out/InstallExecuteSequence.idt"
grep -q "^RemoveExistingProducts" "$out/InstallExecuteSequence.idt" \
  || fail "RemoveExistingProducts is not scheduled (MajorUpgrade)"
msiinfo export "$msi" Shortcut >"$out/Shortcut.idt"
grep -q "ClosePlan Desktop" "$out/Shortcut.idt" || fail "no Start menu shortcut"
grep -q "closeplan-desktop.exe" "$out/Shortcut.idt" || fail "the shortcut does not start closeplan-desktop.exe"
msiinfo export "$msi" File >"$out/File.idt"
msi_files="$(tail -n +4 "$out/File.idt" | wc -l)"
[ "$msi_files" -eq "$nfiles" ] || fail "the MSI has $msi_files files, the tree $nfiles"
msiinfo suminfo "$msi" >"$out/suminfo.txt"
grep -q "x64" "$out/suminfo.txt" || fail "not an x64 package"
echo "per-machine, UpgradeCode {$upgrade_code}, MajorUpgrade, Start menu shortcut, $msi_files files"

echo "== Authenticode: sign and verify with a throwaway certificate (osslsigncode)"
certdir="$(mktemp -d -t closeplan-cert.XXXXXX)"
trap 'rm -rf "$certdir"' EXIT
openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 2 \
  -subj "/CN=ClosePlan Desktop throwaway code signing/O=ClosePlan" \
  -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=codeSigning" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$certdir/key.pem" -out "$certdir/cert.pem" 2>/dev/null
signed="${msi%.msi}-signed.msi"
osslsigncode sign -certs "$certdir/cert.pem" -key "$certdir/key.pem" -h sha256 \
  -n "ClosePlan Desktop" -i "https://closeplan.example" -in "$msi" -out "$signed" >/dev/null
osslsigncode verify -CAfile "$certdir/cert.pem" -in "$signed" >"$out/verify.log" 2>&1 \
  || { cat "$out/verify.log" >&2; fail "the signed MSI does not verify"; }
grep -q "Signature verification: ok" "$out/verify.log" || fail "osslsigncode did not say ok"
echo "signed and verified: $signed"
cp "$signed" "$out/tampered.msi"
size="$(stat -c %s "$out/tampered.msi")"
$python - "$out/tampered.msi" "$((size / 2))" <<'EOF'
import sys
path, offset = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as fh:
    fh.seek(offset)
    b = fh.read(1)[0]
    fh.seek(offset)
    fh.write(bytes([b ^ 0x01]))
EOF
if osslsigncode verify -CAfile "$certdir/cert.pem" -in "$out/tampered.msi" >/dev/null 2>&1; then
  fail "a copy with one changed byte still verifies"
fi
echo "a copy with one changed byte fails verification, as it must"
rm -f "$out/tampered.msi"

echo "== Group Policy templates"
$python - <<'EOF'
import xml.etree.ElementTree as ET
for path in ("packaging/windows/ClosePlan.admx", "packaging/windows/en-US/ClosePlan.adml"):
    ET.parse(path)
print("well-formed XML")
EOF
if [ "$python" = ".venv/bin/python" ]; then
  $python packaging/windows/gen-admx.py --check
fi

echo
echo "MSI definition check passed in $((SECONDS - started)) s"
