"""Conan 2 recipe for flume-client: the C library (shared and static), its C++17
header and its CMake package, built from this source tree with CMake and cargo.

    conan create . --build=missing          # builds, packages, runs test_package/

It builds offline: the default build depends only on the crates in Cargo.lock
(libc; cbindgen at build time), which cargo takes from its local cache
(CARGO_NET_OFFLINE=true), and on no other Conan package. Rust (cargo) must be
installed on the build machine.

Options:
  tls  cargo feature `tls` (rustls, no OpenSSL); default False
  lto  the release profile's link-time optimisation (Cargo.toml: lto = true,
       codegen-units = 1), as the CMake build and the Debian packages use it.
       Default False: a package built for a developer's machine or CI builds in
       about a third of the time with lto=False (codegen-units = 16); the
       library is the same code, a little slower per event (see README
       "Conan").

The package holds both libraries, so it has no `shared` option: consumers get
the project's own CMake package (find_package(FlumeClient)), with
FlumeClient::flume_client (shared), FlumeClient::flume_client_static,
FlumeClient::FlumeClient (chosen by BUILD_SHARED_LIBS) and
FlumeClient::flume_client_cpp (C++17), the same targets as an installed or
Debian-packaged build.
"""
import os
import re

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import load


class FlumeClientConan(ConanFile):
    name = "flume-client"
    description = "A C client library for Apache Flume's Thrift source, with a C++17 header"
    license = "Apache-2.0"
    url = "https://flume.apache.org/"
    topics = ("flume", "thrift", "logging", "events")
    settings = "os", "arch", "compiler", "build_type"
    options = {"tls": [True, False], "lto": [True, False]}
    default_options = {"tls": False, "lto": False}
    exports_sources = (
        "Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml", "CMakeLists.txt",
        "src/*", "rust/Cargo.toml", "rust/src/*", "include/*", "cmake/*",
        # Workspace members and declared targets cargo reads with the manifest.
        "tools/Cargo.toml", "tools/src/*", "tests/*", "examples/*",
    )

    def set_version(self):
        cargo_toml = load(self, os.path.join(self.recipe_folder, "Cargo.toml"))
        self.version = re.search(r'^version\s*=\s*"([^"]+)"', cargo_toml, re.M).group(1)

    def configure(self):
        # A C library with a header-only C++ part: the C++ standard library of
        # the consumer is its own affair.
        self.settings.rm_safe("compiler.libcxx")
        self.settings.rm_safe("compiler.cppstd")

    def layout(self):
        cmake_layout(self)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["FLUME_CLIENT_BUILD_TESTS"] = False
        tc.cache_variables["FLUME_CLIENT_BUILD_EXAMPLES"] = False
        tc.cache_variables["FLUME_CLIENT_BUILD_TOOLS"] = False
        tc.cache_variables["FLUME_CLIENT_TLS"] = bool(self.options.tls)
        # The static library's system libraries: the usual Linux set (rustc's
        # answer for linux-gnu targets), without compiling the crate once more
        # at configure time to ask.
        tc.cache_variables["FLUME_CLIENT_QUERY_NATIVE_STATIC_LIBS"] = False
        tc.generate()

    def _cargo_env(self):
        env = {"CARGO_NET_OFFLINE": "true"}
        if not self.options.lto:
            env["CARGO_PROFILE_RELEASE_LTO"] = "false"
            env["CARGO_PROFILE_RELEASE_CODEGEN_UNITS"] = "16"
        return env

    def build(self):
        # cargo runs under CMake and inherits this environment.
        os.environ.update(self._cargo_env())
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        cmake = CMake(self)
        cmake.install()

    def package_info(self):
        # The package's own CMake config (relocatable) rather than one Conan writes.
        self.cpp_info.set_property("cmake_find_mode", "none")
        self.cpp_info.builddirs = [os.path.join("lib", "cmake", "FlumeClient")]
        self.cpp_info.set_property("pkg_config_name", "flume_client")
        self.cpp_info.libs = ["flume_client"]
        if self.settings.os == "Linux":
            self.cpp_info.system_libs = ["pthread", "dl", "m", "rt", "util", "gcc_s"]
