#!/usr/bin/env bash
# Verifies a ClosePlan Desktop .deb three ways, and fails (exit 1, one clear line per
# failed check) if any check fails:
#
#   1. the detached ASCII-armoured signature   DEB.asc        (gpgv)
#   2. the clear-signed checksums              SHA256SUMS     (gpgv, then sha256sum)
#   3. the debsigs origin signature inside the package        (debsig-verify)
#
# Usage: verify-linux.sh [--fingerprint FPR] [--key FILE] [--system] [--tamper-test] DEB
#
#   --key FILE         the release public key (default: closeplan-release-key.asc
#                      beside DEB)
#   --fingerprint FPR  the fingerprint you got from ClosePlan out of band; the key must
#                      match it (also $CLOSEPLAN_RELEASE_FPR). Without it the key file
#                      is trusted as found, and the script says so.
#   --system           check the debsigs signature with the policy and key ring installed
#                      under /etc/debsig and /usr/share/debsig (packaging/README.md);
#                      by default they are made from the key in a temporary folder.
#   --tamper-test      after verifying DEB, copy it, flip one byte in the copy, and
#                      require all three checks to fail on the copy.
#
# DEB.asc and SHA256SUMS are looked for beside DEB. Needs gpgv, gnupg, debsig-verify.
set -euo pipefail

fingerprint="${CLOSEPLAN_RELEASE_FPR:-}"
key=""
system=0
tamper=0
deb=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fingerprint) fingerprint="$2"; shift 2 ;;
    --key) key="$2"; shift 2 ;;
    --system) system=1; shift ;;
    --tamper-test) tamper=1; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "verify-linux.sh: unknown option $1" >&2; exit 2 ;;
    *) deb="$1"; shift ;;
  esac
done
[ -n "$deb" ] || { echo "usage: verify-linux.sh [options] PACKAGE.deb" >&2; exit 2; }
[ -f "$deb" ] || { echo "verify-linux.sh: $deb: no such file" >&2; exit 1; }
for tool in gpg gpgv debsig-verify sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "verify-linux.sh: $tool is missing (apt-get install gnupg gpgv debsig-verify)" >&2
    exit 1; }
done
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
dir="$(dirname "$deb")"
key="${key:-$dir/closeplan-release-key.asc}"
[ -f "$key" ] || { echo "verify-linux.sh: no release key at $key (use --key)" >&2; exit 1; }

work="$(mktemp -d -t closeplan-verify.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
keyring="$work/release.gpg"
gpg --batch --quiet --dearmor <"$key" >"$keyring" 2>/dev/null \
  || gpg --batch --quiet --yes --output "$keyring" --export 2>/dev/null  # binary key file
if ! gpg --batch --show-keys --with-colons "$keyring" >/dev/null 2>&1; then
  cp "$key" "$keyring"
fi
key_fpr="$(gpg --batch --show-keys --with-colons "$keyring" | awk -F: '$1 == "fpr" {print $10; exit}')"
[ -n "$key_fpr" ] || { echo "verify-linux.sh: $key is not an OpenPGP public key" >&2; exit 1; }
if [ -n "$fingerprint" ]; then
  want="$(echo "$fingerprint" | tr -d ' ' | tr '[:lower:]' '[:upper:]')"
  if [ "$want" != "$key_fpr" ]; then
    echo "FAIL release key: $key has fingerprint $key_fpr, expected $want" >&2
    exit 1
  fi
  echo "ok   release key $key_fpr (matches the pinned fingerprint)"
else
  echo "warn release key $key_fpr taken from $key: pin it with --fingerprint"
fi
keyid="${key_fpr: -16}"

# debsig-verify's policy and key ring for this key, in a temporary root.
mkdir -p "$work/debsig/policies/$keyid" "$work/debsig/keyrings/$keyid"
cp "$keyring" "$work/debsig/keyrings/$keyid/debsig.gpg"
cat >"$work/debsig/policies/$keyid/closeplan.pol" <<EOF
<?xml version="1.0"?>
<!DOCTYPE Policy SYSTEM "https://www.debian.org/debsig/1.0/policy.dtd">
<Policy xmlns="https://www.debian.org/debsig/1.0/">
  <Origin Name="ClosePlan" id="$keyid" Description="ClosePlan Desktop release key"/>
  <Selection><Required Type="origin" File="debsig.gpg" id="$keyid"/></Selection>
  <Verification MinOptional="0">
    <Required Type="origin" File="debsig.gpg" id="$keyid"/>
  </Verification>
</Policy>
EOF

check_detached() {  # PACKAGE SIGNATURE
  gpgv --keyring "$keyring" "$2" "$1" >"$work/out" 2>&1
}

check_sums() {  # PACKAGE SUMSFILE
  local name line
  name="$(basename "$1")"
  gpgv --keyring "$keyring" --output "$work/sums.txt" "$2" >"$work/out" 2>&1 || return 1
  line="$(awk -v n="$name" '$2 == n || $2 == "*" n' "$work/sums.txt")"
  [ -n "$line" ] || { echo "$name is not listed in the signed SHA256SUMS" >"$work/out"; return 1; }
  (cd "$(dirname "$1")" && echo "$line" | sha256sum --check --strict --quiet -) \
    >"$work/out" 2>&1
}

check_debsig() {  # PACKAGE
  if [ "$system" -eq 1 ]; then
    debsig-verify "$1" >"$work/out" 2>&1
  else
    debsig-verify --policies-dir "$work/debsig/policies" --keyrings-dir "$work/debsig/keyrings" \
      "$1" >"$work/out" 2>&1
  fi
}

verify_all() {  # PACKAGE SIGNATURE SUMSFILE -> number of failed checks
  local failed=0
  if check_detached "$1" "$2"; then echo "ok   detached signature $(basename "$2")"
  else echo "FAIL detached signature $(basename "$2") does not match $(basename "$1"): $(tail -1 "$work/out")"; failed=$((failed + 1)); fi
  if check_sums "$1" "$3"; then echo "ok   clear-signed SHA256SUMS: signature and checksum"
  else echo "FAIL SHA256SUMS: $(tail -1 "$work/out")"; failed=$((failed + 1)); fi
  if check_debsig "$1"; then echo "ok   debsigs origin signature ($(tail -1 "$work/out"))"
  else echo "FAIL debsigs origin signature: $(tail -1 "$work/out")"; failed=$((failed + 1)); fi
  return "$failed"
}

echo "Verifying $deb"
if ! verify_all "$deb" "$deb.asc" "$dir/SHA256SUMS"; then
  echo "verify-linux.sh: $(basename "$deb") FAILED verification: do not install it." >&2
  exit 1
fi
echo "All three signatures verify."

if [ "$tamper" -eq 1 ]; then
  mkdir "$work/tampered"
  copy="$work/tampered/$(basename "$deb")"
  cp "$deb" "$copy"
  cp "$deb.asc" "$copy.asc"
  cp "$dir/SHA256SUMS" "$work/tampered/SHA256SUMS"
  size="$(stat -c %s "$copy")"
  offset=$((size / 2))
  python3 - "$copy" "$offset" <<'EOF'
import sys
path, offset = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as fh:
    fh.seek(offset)
    byte = fh.read(1)[0]
    fh.seek(offset)
    fh.write(bytes([byte ^ 0x01]))
EOF
  echo
  echo "Tamper test: flipped one bit of byte $offset of $size in a copy; every check must fail:"
  failed=0
  verify_all "$copy" "$copy.asc" "$work/tampered/SHA256SUMS" | sed 's/^/   /' || true
  check_detached "$copy" "$copy.asc" || failed=$((failed + 1))
  check_sums "$copy" "$work/tampered/SHA256SUMS" || failed=$((failed + 1))
  check_debsig "$copy" || failed=$((failed + 1))
  if [ "$failed" -ne 3 ]; then
    echo "verify-linux.sh: only $failed of 3 checks caught the changed byte" >&2
    exit 1
  fi
  echo "Tamper test passed: all 3 checks reject the changed package."
fi
