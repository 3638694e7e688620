"""Building, signing and checking the test driver (mingw-w64 on Linux; WDK/EWDK in driver_src/wdk)."""
