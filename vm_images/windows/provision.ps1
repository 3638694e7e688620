# clfs-harness: provisioning of a Windows test guest (a template; ASCII only, PowerShell 5.1).
#
# Rendered by harness/images/windows_answer.py onto the answer ISO as clfs-provision.ps1; each
# placeholder (a NAME between two pairs of at-signs) becomes a single-quoted PowerShell string.
# Run once by the answer file at the first, automatic logon of the build account (an
# administrator, elevated), with the answer medium, virtio-win and the install ISO attached.
#
# It talks to the image builder on COM1 only, one marker per line (harness/images/markers.py):
#   CLFS-HARNESS-PROGRESS <step>        before each step
#   CLFS-HARNESS-FACT <key>=<value>     what the host records in the image manifest
#   CLFS-HARNESS-ERROR <step>: <text>   a step failed; the host ends the build with this text
#   CLFS-HARNESS-DONE                   all facts sent; the guest shuts down next
# The host checks every fact against what it asked for; nothing here is taken on trust.

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$Settings = @{
    AuthorizedKey   = @@AUTHORIZED_KEY@@
    TestCertificate = @@TEST_CERT_FILE@@
    VirtioOs        = @@VIRTIO_OS@@
    DumpType        = @@DUMP_TYPE@@
    OpenSshMsi      = @@OPENSSH_MSI@@
}
$Media = $PSScriptRoot
$Step = 'start'

$Com = $null   # opened inside the try below: a failure to open it is reported too

function Send([string]$Line) {
    if ($null -ne $Com -and $Com.IsOpen) { $Com.WriteLine($Line); $Com.BaseStream.Flush(); return }
    # No serial port object (opening it failed): the way the answer file's own markers reach
    # COM1. Only characters cmd.exe takes literally are kept.
    $safe = $Line -replace '[^A-Za-z0-9 .,:;_/=+-]', ' '
    cmd.exe /c "echo $safe>COM1" | Out-Null
}
function Step([string]$Name) { $script:Step = $Name; Send "CLFS-HARNESS-PROGRESS $Name" }
function Fact([string]$Key, [string]$Value) {
    # One line per fact, printable ASCII: the host refuses anything else.
    $clean = ($Value -replace '[^\x20-\x7e]', ' ').Trim()
    Send "CLFS-HARNESS-FACT $Key=$clean"
}
function Invoke-Checked([string]$What, [scriptblock]$Command, [int[]]$Ok = @(0)) {
    # A native tool's stderr must not become a terminating error (PowerShell 5.1 does that under
    # 'Stop' with 2>&1): its exit code decides, and its output goes into the message.
    $ErrorActionPreference = 'Continue'
    $output = & $Command 2>&1 | Out-String
    if ($Ok -notcontains $LASTEXITCODE) { throw "$What exited $LASTEXITCODE`: $($output.Trim())" }
    return $output
}
function Set-Reg([string]$Path, [string]$Name, $Value, [string]$Type = 'DWord') {
    if (-not (Test-Path $Path)) { New-Item -Path $Path -Force | Out-Null }
    New-ItemProperty -Path $Path -Name $Name -Value $Value -PropertyType $Type -Force | Out-Null
}
function Trust-Publisher([string]$SignedFile) {
    # pnputil would ask "Would you like to install this device software?" for a publisher that
    # is not trusted yet, in this interactive session, and wait forever. Trust the signer first.
    $signer = (Get-AuthenticodeSignature -FilePath $SignedFile).SignerCertificate
    if ($null -eq $signer) { throw "$SignedFile is not signed" }
    $store = New-Object System.Security.Cryptography.X509Certificates.X509Store 'TrustedPublisher', 'LocalMachine'
    $store.Open('ReadWrite'); $store.Add($signer); $store.Close()
}

try {
    $Com = New-Object System.IO.Ports.SerialPort 'COM1', 115200, 'None', 8, 'One'
    $Com.NewLine = "`n"
    $Com.Open()

    Step 'virtio-drivers'
    # NetKVM (the NIC), pvpanic and FwCfg (fills QEMU's vmcoreinfo for Windows-format dumps of
    # a hung guest). Storage drivers came in with Setup already.
    $virtio = Get-PSDrive -PSProvider FileSystem | ForEach-Object { $_.Root } |
        Where-Object { Test-Path (Join-Path $_ "NetKVM\$($Settings.VirtioOs)\amd64\netkvm.inf") } |
        Select-Object -First 1
    if ($null -eq $virtio) { throw "no virtio-win medium with NetKVM\$($Settings.VirtioOs)\amd64" }
    foreach ($driver in @('NetKVM\netkvm', 'pvpanic\pvpanic', 'fwcfg\fwcfg')) {
        $folder, $name = $driver -split '\\'
        $inf = Join-Path $virtio "$folder\$($Settings.VirtioOs)\amd64\$name.inf"
        Trust-Publisher ([IO.Path]::ChangeExtension($inf, '.cat'))
        # 259: added, but no device needs it now (pvpanic: this VM's panic device is hyperv).
        Invoke-Checked "pnputil $name" { pnputil.exe /add-driver $inf /install } @(0, 259, 3010) | Out-Null
    }

    Step 'test-certificate'
    # The driver test-signing certificate, in both stores the WDK documentation names.
    $cer = Join-Path $Media $Settings.TestCertificate
    $root = Import-Certificate -FilePath $cer -CertStoreLocation Cert:\LocalMachine\Root
    $trusted = Import-Certificate -FilePath $cer -CertStoreLocation Cert:\LocalMachine\TrustedPublisher
    if ($root.Thumbprint -ne $trusted.Thumbprint) { throw 'certificate imported twice with different thumbprints' }
    Fact 'test_cert_sha1' $root.Thumbprint

    Step 'test-signing'
    # bcdedit's exit code decides (its text is in the display language: "testsigning Ja" on a
    # German Windows). The boot options in effect (SystemStartOptions: TESTSIGNING) are checked
    # by the harness after the reboot, at every start of the windows target.
    Invoke-Checked 'bcdedit /set testsigning on' { bcdedit.exe /set testsigning on } | Out-Null
    Fact 'test_signing' 'on'

    Step 'crash-dumps'
    $crash = 'HKLM:\SYSTEM\CurrentControlSet\Control\CrashControl'
    $dumpCode = @{ kernel = 2; automatic = 7 }[$Settings.DumpType]
    if ($null -eq $dumpCode) { throw "unknown dump type $($Settings.DumpType)" }
    Set-Reg $crash 'CrashDumpEnabled' $dumpCode
    Set-Reg $crash 'AutoReboot' 1
    Set-Reg $crash 'NMICrashDump' 1          # an NMI from the host (a hung guest) bugchecks 0x80
    Set-Reg $crash 'Overwrite' 1
    Set-Reg $crash 'LogEvent' 1
    Set-Reg $crash 'AlwaysKeepMemoryDump' 1  # keep MEMORY.DMP even when disk space runs low
    Set-Reg $crash 'DumpFile' '%SystemRoot%\MEMORY.DMP' 'ExpandString'
    Set-Reg $crash 'MinidumpDir' '%SystemRoot%\Minidump' 'ExpandString'
    $readBack = (Get-ItemProperty $crash).CrashDumpEnabled
    Fact 'dump_type' (@{ 2 = 'kernel'; 7 = 'automatic' }[[int]$readBack])

    Step 'windows-update'
    # Policy documented for Windows Update: no automatic updates. A test guest changes only
    # when its image is rebuilt, so a CLFS behaviour change is traceable to a build.
    Set-Reg 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU' 'NoAutoUpdate' 1
    # The service too, where Windows lets an administrator (it may refuse; the policy holds).
    try { Set-Service -Name wuauserv -StartupType Disabled } catch { }
    Fact 'windows_update' 'off'

    Step 'sample-submission'
    if (Get-Command Set-MpPreference -ErrorAction SilentlyContinue) {
        # 2 = never send samples; MAPS off. Test drivers and their dumps stay in the lab.
        Set-Reg 'HKLM:\SOFTWARE\Policies\Microsoft\Windows Defender\Spynet' 'SubmitSamplesConsent' 2
        Set-Reg 'HKLM:\SOFTWARE\Policies\Microsoft\Windows Defender\Spynet' 'SpynetReporting' 0
        Set-MpPreference -SubmitSamplesConsent 2 -MAPSReporting 0
        if ((Get-MpPreference).SubmitSamplesConsent -ne 2) { throw 'SubmitSamplesConsent is not 2' }
        Fact 'sample_submission' 'off'
    } else {
        Fact 'sample_submission' 'no-defender'
    }

    Step 'openssh'
    $sshd = Get-Service -Name sshd -ErrorAction SilentlyContinue
    if ($null -eq $sshd -and $Settings.OpenSshMsi) {
        $msi = Join-Path $Media $Settings.OpenSshMsi
        # The MSI starts sshd at install unless DONT_START_SSHD is set (PowerShell/openssh-portable,
        # contrib/win32/install/install/components/c_server.wxs: ServiceControl SC_SSHD_INSTALL,
        # condition NOT(DONT_START_SSHD OR DONT_START_SERVICES)). Set: sshd first starts below,
        # with our sshd_config.
        $p = Start-Process msiexec.exe -ArgumentList @('/i', "`"$msi`"", 'ADDLOCAL=Server', 'DONT_START_SSHD=1', '/qn', '/norestart') -Wait -PassThru
        if (@(0, 3010) -notcontains $p.ExitCode) { throw "msiexec $($Settings.OpenSshMsi) exited $($p.ExitCode)" }
    } elseif ($null -eq $sshd) {
        $capability = Get-WindowsCapability -Online -Name 'OpenSSH.Server*' | Select-Object -First 1
        if ($null -eq $capability) { throw 'no OpenSSH.Server capability on this Windows' }
        Add-WindowsCapability -Online -Name $capability.Name | Out-Null
    }
    $service = Get-CimInstance Win32_Service -Filter "Name='sshd'"
    if ($null -eq $service) { throw 'the sshd service is not installed' }
    $sshdExe = $service.PathName.Trim('"')
    $sshDir = Join-Path $env:ProgramData 'ssh'
    New-Item -ItemType Directory -Path $sshDir -Force | Out-Null
    # sshd_config before sshd's first start: from the MSI (DONT_START_SSHD above) and from the
    # Windows capability (Add-WindowsCapability installs sshd stopped; Microsoft's page starts it
    # with Start-Service), sshd has not run yet. Windows Server 2025 ships sshd installed and
    # disabled. Should sshd already run anyway (an image made by hand), the restart below applies
    # this file; until then nothing reaches it: the build guest's NIC reaches nothing and no host
    # port forwards to guest port 22 during the install. "First obtained value wins" in
    # sshd_config, so these lines go on top of the default file (whose "Match Group
    # administrators" block points at administrators_authorized_keys).
    $default = Join-Path (Split-Path $sshdExe) 'sshd_config_default'
    $config = Join-Path $sshDir 'sshd_config'
    $base = if (Test-Path $config) { Get-Content -Raw $config } elseif (Test-Path $default) { Get-Content -Raw $default } else { '' }
    if ($base -notmatch '(?m)^\s*Match Group administrators') {
        $base += "`nMatch Group administrators`n       AuthorizedKeysFile __PROGRAMDATA__/ssh/administrators_authorized_keys`n"
    }
    $ours = "# clfs-harness: key authentication only`nPubkeyAuthentication yes`nPasswordAuthentication no`n`n"
    [IO.File]::WriteAllText($config, $ours + $base, (New-Object System.Text.UTF8Encoding $false))
    # Administrators' keys live in administrators_authorized_keys, whose ACL must be exactly
    # SYSTEM and Administrators, full control, nothing inherited (Microsoft's OpenSSH key
    # management page: icacls ... /inheritance:r /grant "Administrators:F" /grant "SYSTEM:F").
    # The same grants by SID, so a localized Windows (Administratoren, ...) works too.
    $keys = Join-Path $sshDir 'administrators_authorized_keys'
    [IO.File]::WriteAllText($keys, $Settings.AuthorizedKey + "`n", (New-Object System.Text.UTF8Encoding $false))
    Invoke-Checked 'icacls administrators_authorized_keys' { icacls.exe $keys /inheritance:r /grant '*S-1-5-32-544:F' /grant '*S-1-5-18:F' } | Out-Null
    $aces = @((Get-Acl $keys).Access | ForEach-Object {
        '{0}:{1}:{2}' -f $_.IdentityReference.Translate([Security.Principal.SecurityIdentifier]).Value, $_.FileSystemRights, $_.IsInherited })
    $want = @('S-1-5-18:FullControl:False', 'S-1-5-32-544:FullControl:False')
    if ((($aces | Sort-Object) -join ',') -ne ($want -join ',')) { throw "administrators_authorized_keys ACL is $($aces -join ', ')" }
    Set-Reg 'HKLM:\SOFTWARE\OpenSSH' 'DefaultShell' "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe" 'String'
    $rule = Get-NetFirewallRule -Name 'OpenSSH-Server-In-TCP' -ErrorAction SilentlyContinue
    if ($null -eq $rule) {
        New-NetFirewallRule -Name 'OpenSSH-Server-In-TCP' -DisplayName 'OpenSSH Server (sshd)' -Enabled True -Direction Inbound -Protocol TCP -Action Allow -LocalPort 22 -Profile Any | Out-Null
    } else {
        Set-NetFirewallRule -Name 'OpenSSH-Server-In-TCP' -Enabled True -Profile Any
    }
    Set-Service -Name sshd -StartupType Automatic
    Restart-Service -Name sshd -Force
    $effective = Invoke-Checked 'sshd -T' { & $sshdExe -T }
    if ($effective -notmatch '(?m)^passwordauthentication no\s*$') { throw 'sshd still allows password authentication' }
    if ($effective -notmatch '(?m)^pubkeyauthentication yes\s*$') { throw 'sshd does not allow key authentication' }
    Fact 'ssh_password_auth' 'no'
    $hostKey = (Get-Content (Join-Path $sshDir 'ssh_host_ed25519_key.pub') -TotalCount 1) -split '\s+'
    Fact 'host_key' ($hostKey[0] + ' ' + $hostKey[1])

    Step 'clfs-authentication'
    # Windows 11 25H2 authenticates CLFS log files (HMAC): Mode 0 enforcing, 1 learning,
    # 2 disabled (HKLM\SYSTEM\CurrentControlSet\Services\CLFS\Authentication). Recorded, not
    # changed: results depend on it, so the image says which mode it was built with.
    $auth = Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\CLFS\Authentication' -Name Mode -ErrorAction SilentlyContinue
    if ($null -eq $auth) { $mode = 'absent' }
    else { $mode = @{ 0 = 'enforcing'; 1 = 'learning'; 2 = 'disabled' }[[int]$auth.Mode]; if ($null -eq $mode) { $mode = "mode-$([int]$auth.Mode)" } }
    Fact 'clfs_authentication' $mode

    Step 'autologon-off'
    $winlogon = 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon'
    Set-Reg $winlogon 'AutoAdminLogon' '0' 'String'
    Remove-ItemProperty -Path $winlogon -Name 'DefaultPassword', 'AutoLogonCount' -ErrorAction SilentlyContinue

    Step 'facts'
    $cv = Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    Fact 'build' $cv.CurrentBuildNumber
    Fact 'revision' ([string]$cv.UBR)
    Fact 'edition' $cv.EditionID
    Fact 'product_name' $cv.ProductName
    Fact 'installation_type' $cv.InstallationType
    if ($cv.PSObject.Properties['DisplayVersion']) { Fact 'display_version' $cv.DisplayVersion }

    Send 'CLFS-HARNESS-DONE'
    $Com.Close()
    Stop-Computer -Force
} catch {
    $message = ($_.Exception.Message -replace '[^\x20-\x7e]', ' ').Trim()
    if ($message.Length -gt 1500) { $message = $message.Substring(0, 1500) }
    if ($null -ne $Com -and -not $Com.IsOpen) { $Com = $null }   # COM1 did not open: Send falls back
    Send ("CLFS-HARNESS-ERROR {0}: {1}" -f $Step, $message)
    if ($null -ne $Com) { $Com.Close() }
    exit 1
}
