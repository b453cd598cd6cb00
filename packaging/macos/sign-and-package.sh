#!/usr/bin/env bash
# macOS release: build "ClosePlan Desktop.app", sign it with the hardened runtime, run its
# self-test, make a signed PKG and a signed DMG, notarize both, staple the tickets and
# verify everything. FOR A macOS RUNNER (Xcode command line tools); it cannot run on
# Linux and was not run where the Linux artifacts were verified.
#
#   APP_IDENTITY="Developer ID Application: ClosePlan Inc (TEAMID)" \
#   INSTALLER_IDENTITY="Developer ID Installer: ClosePlan Inc (TEAMID)" \
#   NOTARY_PROFILE=closeplan-notary \
#   bash packaging/macos/sign-and-package.sh
#
# NOTARY_PROFILE names credentials stored once with
#   xcrun notarytool store-credentials closeplan-notary --apple-id ID --team-id TEAMID \
#     --password APP_SPECIFIC_PASSWORD
# (release.yml stores them from secrets on a temporary keychain). Without NOTARY_PROFILE
# the script signs and verifies but skips notarization and stapling, and says so.
#
# Outputs: dist/macos/ClosePlan-Desktop-VERSION.pkg and .dmg.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${APP_IDENTITY:?set APP_IDENTITY to the Developer ID Application identity}"
: "${INSTALLER_IDENTITY:?set INSTALLER_IDENTITY to the Developer ID Installer identity}"
NOTARY_PROFILE="${NOTARY_PROFILE:-}"
ENTITLEMENTS="packaging/macos/entitlements.plist"

. packaging/lib.sh
venv_install build
VERSION="$(.venv/bin/python -c 'import closeplan_desktop as c; print(c.__version__)')"
APP="dist/ClosePlan Desktop.app"
OUT="dist/macos"

echo "== PyInstaller: $APP (BUNDLE in packaging/closeplan-desktop.spec)"
rm -rf "$APP" dist/closeplan-desktop "$OUT"
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
  packaging/closeplan-desktop.spec
mkdir -p "$OUT"

echo "== codesign (hardened runtime, secure timestamp), innermost first"
sign() {
  codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
    --sign "$APP_IDENTITY" "$@"
}
# Every Mach-O inside the bundle: libraries, Qt plugins and frameworks, Python extensions.
find "$APP/Contents" -type f \( -name '*.dylib' -o -name '*.so' -o -perm -u+x \) -print0 \
  | while IFS= read -r -d '' f; do
      if file -b "$f" | grep -q 'Mach-O'; then sign "$f"; fi
    done
find "$APP/Contents" -type d -name '*.framework' -print0 \
  | while IFS= read -r -d '' fw; do sign "$fw"; done
sign "$APP/Contents/MacOS/closeplan-admin"
sign "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"
codesign --display --verbose=4 "$APP" 2>&1 | grep -E 'Authority|flags|TeamIdentifier'

echo "== Self-test of the signed app (login keychain, offscreen Qt)"
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/closeplan-desktop" --self-test

echo "== PKG (pkgbuild + productbuild, signed)"
pkgbuild --component "$APP" --install-location /Applications \
  --scripts packaging/macos/scripts --identifier com.closeplan.desktop.pkg \
  --version "$VERSION" "build/ClosePlan-Desktop-component.pkg"
PKG="$OUT/ClosePlan-Desktop-$VERSION.pkg"
productbuild --package "build/ClosePlan-Desktop-component.pkg" --sign "$INSTALLER_IDENTITY" \
  --timestamp "$PKG"
pkgutil --check-signature "$PKG"

echo "== DMG (hdiutil, signed)"
stage="build/dmg"
rm -rf "$stage" && mkdir -p "$stage"
cp -R "$APP" "$stage/"
ln -s /Applications "$stage/Applications"
DMG="$OUT/ClosePlan-Desktop-$VERSION.dmg"
hdiutil create -volname "ClosePlan Desktop" -srcfolder "$stage" -ov -format UDZO "$DMG"
codesign --force --timestamp --sign "$APP_IDENTITY" "$DMG"
codesign --verify --verbose=2 "$DMG"

if [ -n "$NOTARY_PROFILE" ]; then
  echo "== Notarization (notarytool submit --wait) and stapling"
  for artifact in "$DMG" "$PKG"; do
    xcrun notarytool submit "$artifact" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$artifact"
    xcrun stapler validate "$artifact"
  done
  echo "== Gatekeeper"
  spctl --assess --type install --verbose=4 "$PKG"
  spctl --assess --type open --context context:primary-signature --verbose=4 "$DMG"
else
  echo "NOTARY_PROFILE is not set: NOT notarized or stapled (Gatekeeper will refuse" \
       "these on other Macs)."
fi
(cd "$OUT" && shasum -a 256 ./*.pkg ./*.dmg >SHA256SUMS)
ls -lh "$OUT"
