<#
.SYNOPSIS
  Installs apex-ioc-sync as a scheduled task that runs one sync job every 30 minutes, or
  with -Watch as a task that runs the job's watch from boot on.

.DESCRIPTION
  Copies the binary to C:\Program Files\apex-ioc-sync, the job's config file to
  C:\ProgramData\apex-ioc-sync\<Job>.config, limits that folder to SYSTEM and Administrators
  (the config file holds the API keys; the lock, state and log files go beside it), checks
  the config with a dry run, and registers apex-ioc-sync.xml (with -Watch,
  apex-ioc-sync-watch.xml) beside this script as the task \apex-ioc-sync\<Job>, in place of
  the job's task if there is one (a job runs on the schedule or as a watch, not both). A
  watch is started at once.
  Run from an elevated PowerShell:
    .\install-task.ps1 -Binary .\apex-ioc-sync.exe -Config .\.config -Job lumu
    .\install-task.ps1 -Binary .\apex-ioc-sync.exe -Config .\.config -Job lumu -Watch
#>
param(
    [Parameter(Mandatory = $true)] [string] $Binary,
    [Parameter(Mandatory = $true)] [string] $Config,
    [ValidatePattern('^[A-Za-z0-9._-]+$')] [string] $Job = 'lumu',
    [switch] $Watch
)
$ErrorActionPreference = 'Stop'

$programDir = Join-Path $env:ProgramFiles 'apex-ioc-sync'
$dataDir = Join-Path $env:ProgramData 'apex-ioc-sync'
New-Item -ItemType Directory -Force -Path $programDir, $dataDir | Out-Null
Copy-Item -Force $Binary (Join-Path $programDir 'apex-ioc-sync.exe')

# Only SYSTEM and Administrators may read the folder: no inherited access for Users
# (ProgramData grants them read). Done before the config (it holds the API keys) is copied in,
# so it is never readable by others, not even for a moment; the change reaches files already
# there through inheritance.
& icacls $dataDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls could not restrict $dataDir" }
$jobConfig = Join-Path $dataDir "$Job.config"
Copy-Item -Force $Config $jobConfig

# The task's XML with this job's name and this machine's folders. Each replaced text is a
# whole element (or the quoted path), so one replacement never changes another's text; a
# template that no longer holds one is an error (.ci/run checks them against the XML).
function Set-Text([string] $Text, [string] $Old, [string] $New) {
    if (-not $Text.Contains($Old)) { throw "apex-ioc-sync.xml no longer holds $Old" }
    return $Text.Replace($Old, $New)
}
function ConvertTo-XmlText([string] $Value) { [Security.SecurityElement]::Escape($Value) }
$exe = Join-Path $programDir 'apex-ioc-sync.exe'
$template = if ($Watch) { 'apex-ioc-sync-watch.xml' } else { 'apex-ioc-sync.xml' }
$xml = Get-Content -Raw -Encoding UTF8 (Join-Path $PSScriptRoot $template)
$xml = Set-Text $xml '<URI>\apex-ioc-sync\lumu</URI>' "<URI>\apex-ioc-sync\$Job</URI>"
$xml = Set-Text $xml '"C:\ProgramData\apex-ioc-sync\lumu.config"' "&quot;$(ConvertTo-XmlText $jobConfig)&quot;"
$xml = Set-Text $xml '<Command>C:\Program Files\apex-ioc-sync\apex-ioc-sync.exe</Command>' "<Command>$(ConvertTo-XmlText $exe)</Command>"
$xml = Set-Text $xml '<WorkingDirectory>C:\ProgramData\apex-ioc-sync</WorkingDirectory>' "<WorkingDirectory>$(ConvertTo-XmlText $dataDir)</WorkingDirectory>"

# A dry run now (as this account, with the task's config) shows that the config and the
# credentials work; a task that cannot work is not registered.
& $exe --config $jobConfig --dry-run
if ($LASTEXITCODE -ne 0) {
    throw "the dry run failed (exit $LASTEXITCODE, see above): fix $jobConfig and run this script again"
}
# A watch already running holds the job's lock: it is stopped before the task is replaced.
Stop-ScheduledTask -TaskPath '\apex-ioc-sync\' -TaskName $Job -ErrorAction SilentlyContinue
Register-ScheduledTask -TaskPath '\apex-ioc-sync\' -TaskName $Job -Xml $xml -Force | Out-Null
if ($Watch) {
    Start-ScheduledTask -TaskPath '\apex-ioc-sync\' -TaskName $Job
    Write-Host "Installed and started: task \apex-ioc-sync\$Job runs the watch from boot on; log in $dataDir."
} else {
    Write-Host "Installed: task \apex-ioc-sync\$Job runs every 30 minutes; log in $dataDir."
}
