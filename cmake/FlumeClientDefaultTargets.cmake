# The targets defined over FlumeClient::flume_client (shared) and
# FlumeClient::flume_client_static, the same in the build tree (add_subdirectory)
# and in the installed package (FlumeClientConfig.cmake includes this file):
#
#   FlumeClient::FlumeClient       the shared library if BUILD_SHARED_LIBS is true
#                                  where the package is found, the static one otherwise
#                                  (CMake's own rule for add_library without a type)
#   FlumeClient::flume_client_cpp  flume_client.hpp: requires C++17 (cxx_std_17) and
#                                  links FlumeClient::FlumeClient
#
# FlumeClient::flume_client itself always means the shared library: programs
# outside this repository are written against that name.
function(flume_client_define_default_targets)
  set(_scope ${ARGN})  # GLOBAL in the build tree, nothing in the installed package
  if(TARGET FlumeClient::FlumeClient)
    return()
  endif()
  if(BUILD_SHARED_LIBS)
    set(_library FlumeClient::flume_client)
  else()
    set(_library FlumeClient::flume_client_static)
  endif()
  add_library(FlumeClient::FlumeClient INTERFACE IMPORTED ${_scope})
  set_target_properties(FlumeClient::FlumeClient PROPERTIES INTERFACE_LINK_LIBRARIES "${_library}")
  add_library(FlumeClient::flume_client_cpp INTERFACE IMPORTED ${_scope})
  set_target_properties(FlumeClient::flume_client_cpp PROPERTIES
    INTERFACE_LINK_LIBRARIES FlumeClient::FlumeClient
    INTERFACE_COMPILE_FEATURES cxx_std_17)
endfunction()
