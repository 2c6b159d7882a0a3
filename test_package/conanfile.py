"""conan create's test: a C++17 program built against the package with
find_package(FlumeClient) and FlumeClient::flume_client_cpp, and a C program on
FlumeClient::flume_client (shared); both run offline (no agent: they check
the version, the error for an unreachable agent and the statistics)."""
import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, cmake_layout


class FlumeClientTestConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeToolchain"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if can_run(self):
            for program in ("test_cpp", "test_c"):
                self.run(os.path.join(self.cpp.build.bindir, program), env="conanrun")
