# Debian packages with CPack, from a configured and built tree:
#
#   cpack --config <build>/CPackConfig.cmake -G DEB -B <dir>
#
#   libflume-client0     the shared library (component runtime): libflume_client.so.X.Y.Z
#                        and its SONAME link libflume_client.so.0
#   libflume-client-dev  headers (flume_client.h, flume_client.hpp), the static library,
#                        the libflume_client.so link, the CMake package and the
#                        pkg-config module (component development); depends on
#                        libflume-client0 of the same version
#
# The package name carries the SONAME's number (Debian's rule for libraries),
# so a new SONAME (see README "ABI and versioning") is a new package that can
# be installed beside the old one. Installed under /usr: configure with
# -DCMAKE_INSTALL_PREFIX=/usr so that GNUInstallDirs picks Debian's multiarch
# libdir (lib/x86_64-linux-gnu). Libraries are stripped.

set(CPACK_PACKAGE_NAME "flume-client")
set(CPACK_PACKAGE_VENDOR "flume-client")
set(CPACK_PACKAGE_CONTACT "flume-client maintainers <flume-client@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR "DEB")
set(CPACK_COMPONENTS_ALL runtime development)
set(CPACK_DEB_COMPONENT_INSTALL ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://flume.apache.org/")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "libflume-client${PROJECT_VERSION_MAJOR}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "Client library for Apache Flume's Thrift source\n A C library (written in Rust) that sends events to Flume's Thrift source, with\n timeouts, failover and load balancing; it needs only the C runtime.")
# Depends from dpkg-shlibdeps (libc6, libgcc-s1); a shlibs file and the ldconfig trigger.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME "libflume-client-dev")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
    "Client library for Apache Flume's Thrift source (development files)\n C header flume_client.h, C++17 header flume_client.hpp, static library,\n CMake package FlumeClient and pkg-config module flume_client.")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libflume-client${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE})")

include(CPack)
