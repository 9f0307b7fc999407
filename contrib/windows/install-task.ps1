<#
.SYNOPSIS
  Installs apex-ioc-sync as a scheduled task that runs one sync job every 30 minutes.

.DESCRIPTION
  Copies the binary to C:\Program Files\apex-ioc-sync, the job's config file to
  C:\ProgramData\apex-ioc-sync\<Job>.config, limits that folder to SYSTEM and Administrators
  (the config file holds the API keys; the lock, state and log files go beside it), and
  registers apex-ioc-sync.xml (beside this script) as the task \apex-ioc-sync\<Job>.
  Run from an elevated PowerShell:
    .\install-task.ps1 -Binary .\apex-ioc-sync.exe -Config .\.config -Job lumu
#>
param(
    [Parameter(Mandatory = $true)] [string] $Binary,
    [Parameter(Mandatory = $true)] [string] $Config,
    [ValidatePattern('^[A-Za-z0-9._-]+$')] [string] $Job = 'lumu'
)
$ErrorActionPreference = 'Stop'

$programDir = Join-Path $env:ProgramFiles 'apex-ioc-sync'
$dataDir = Join-Path $env:ProgramData 'apex-ioc-sync'
New-Item -ItemType Directory -Force -Path $programDir, $dataDir | Out-Null
Copy-Item -Force $Binary (Join-Path $programDir 'apex-ioc-sync.exe')
$jobConfig = Join-Path $dataDir "$Job.config"
Copy-Item -Force $Config $jobConfig

# Only SYSTEM and Administrators may read the folder: no inherited access for Users.
& icacls $dataDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls could not restrict $dataDir" }

$xml = Get-Content -Raw (Join-Path $PSScriptRoot 'apex-ioc-sync.xml')
$xml = $xml.Replace('\apex-ioc-sync\lumu', "\apex-ioc-sync\$Job")
$xml = $xml.Replace('C:\ProgramData\apex-ioc-sync\lumu.config', $jobConfig)
$xml = $xml.Replace('C:\Program Files\apex-ioc-sync\apex-ioc-sync.exe', (Join-Path $programDir 'apex-ioc-sync.exe'))
$xml = $xml.Replace('C:\ProgramData\apex-ioc-sync<', "$dataDir<")
Register-ScheduledTask -TaskPath '\apex-ioc-sync\' -TaskName $Job -Xml $xml -Force | Out-Null

# A dry run now, as the task will run, shows that the config and the credentials work.
& (Join-Path $programDir 'apex-ioc-sync.exe') --config $jobConfig --dry-run
Write-Host "Installed: task \apex-ioc-sync\$Job runs every 30 minutes; log in $dataDir."
