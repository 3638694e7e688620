@echo off
rem build.cmd - build clfstest.sys and clfsctl.exe on a Windows build host, then test-sign them.
rem NOT built in this project's CI; the Linux build (clfs-harness build-driver) is the tested path.
rem
rem   From an EWDK prompt (LaunchBuildEnv.cmd) or a Visual Studio developer prompt with the WDK:
rem     build.cmd [Release^|Debug]
rem   Signing: set CLFS_TEST_PFX to a PFX holding the test certificate and its key (for example
rem   made from the Linux test.crt/test.key with: openssl pkcs12 -export -in test.crt -inkey test.key
rem   -out test.pfx). Without it the binaries are left unsigned and the script says so.
rem   Output: driver_src\out\wdk\<config>\clfstest.sys and clfsctl.exe
setlocal
set CONFIG=%~1
if "%CONFIG%"=="" set CONFIG=Release
where msbuild >nul 2>nul || (echo build.cmd: msbuild not found: run from an EWDK or VS developer prompt & exit /b 2)
msbuild "%~dp0clfstest.vcxproj" /nologo /m /p:Configuration=%CONFIG% /p:Platform=x64 || exit /b 1
msbuild "%~dp0clfsctl.vcxproj" /nologo /m /p:Configuration=%CONFIG% /p:Platform=x64 || exit /b 1
set OUT=%~dp0..\out\wdk\%CONFIG%
if not defined CLFS_TEST_PFX (
  echo build.cmd: CLFS_TEST_PFX not set: %OUT%\clfstest.sys and clfsctl.exe are NOT signed
  exit /b 0
)
signtool sign /fd sha256 /f "%CLFS_TEST_PFX%" /d "clfs-harness test driver" "%OUT%\clfstest.sys" "%OUT%\clfsctl.exe" || exit /b 1
signtool verify /pa /v "%OUT%\clfstest.sys" >nul || echo build.cmd: signature does not verify against the trusted roots (expected until the test certificate is trusted)
echo build.cmd: signed %OUT%\clfstest.sys %OUT%\clfsctl.exe
