# Start-menu shortcut for a Quantdesk one-folder build on Windows (for the current user).
#
#   powershell -ExecutionPolicy Bypass -File create_shortcut.ps1 -BundleDir C:\Apps\quantdesk
#   powershell -ExecutionPolicy Bypass -File create_shortcut.ps1 -Remove
#
# BundleDir is the unpacked folder holding Quantdesk.exe (the windowed launcher; quantdesk.exe
# beside it is the command-line tool).
param(
    [string]$BundleDir = "",
    [switch]$Remove
)
$ErrorActionPreference = "Stop"

$programs = [Environment]::GetFolderPath("Programs")  # %APPDATA%\Microsoft\Windows\Start Menu\Programs
$link = Join-Path $programs "Quantdesk.lnk"

if ($Remove) {
    if (Test-Path $link) { Remove-Item $link; Write-Output "Removed $link" }
    else { Write-Output "No shortcut at $link" }
    exit 0
}

if (-not $BundleDir) {
    Write-Error "Pass -BundleDir with the folder that holds Quantdesk.exe."
}
$target = Join-Path (Resolve-Path $BundleDir) "Quantdesk.exe"
if (-not (Test-Path $target)) {
    Write-Error "Quantdesk.exe is not in $BundleDir; pass -BundleDir with the unpacked bundle folder."
}

$shell = New-Object -ComObject WScript.Shell
$shortcut = $shell.CreateShortcut($link)
$shortcut.TargetPath = $target
$shortcut.WorkingDirectory = Split-Path -Parent $target
$shortcut.IconLocation = "$target,0"
$shortcut.Description = "Chat with local quantized LLMs, convert and compare them"
$shortcut.Save()
Write-Output "Created $link -> $target"
