# The Debian package `cxlmgr`: everything `cmake --install` puts under /usr, /lib/systemd and
# /etc, with maintainer scripts that do what debhelper's dh_installsystemd and dh_installsysusers
# would. Build it from a Release build: `cpack -G DEB` in the build directory
# (docs/DEPLOYMENT.md).

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cxlmgr)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Install into the staging tree through DESTDIR with the prefix /usr, as `cmake --install
# --prefix /usr` does: systemd/install_unit.cmake places the unit and the configuration (under
# /lib and /etc) by the prefix it sees.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CXLMGR_DEB_MAINTAINER "cxlmgr maintainers <cxlmgr@localhost>"
    CACHE STRING "The Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT ${CXLMGR_DEB_MAINTAINER})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "CXL memory device management daemon")
# The long description; CPack puts the summary above it and indents it as the control file wants.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "cxlmgrd is the one owner of the DOE mailboxes and CXL mailboxes of a server's\n"
    "CXL memory devices. It reaches them through sysfs or VFIO, serializes every\n"
    "exchange through one arbiter, and offers identity, health, CDAT, firmware\n"
    "update and event monitoring on the system bus as org.cxlmgr1. cxlmgrctl is\n"
    "its command-line client.")
string(REPLACE ";" "" CPACK_DEBIAN_PACKAGE_DESCRIPTION "${CPACK_DEBIAN_PACKAGE_DESCRIPTION}")

# Library dependencies from dpkg-shlibdeps (libsdbus-c++1, libpci3, libsqlite3-0, libsystemd0,
# libstdc++6, ...), plus the system bus the daemon serves on, which no library pulls in.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "default-dbus-system-bus | dbus-system-bus")

# Maintainer scripts and the conffile list (the paths systemd/ installs to under /usr).
set(sysusers_file /usr/lib/sysusers.d/cxlmgr.conf)
set(control_dir ${PROJECT_BINARY_DIR}/debian-control)
foreach(script postinst prerm postrm)
  file(READ ${CMAKE_CURRENT_LIST_DIR}/debian/${script} text)
  string(REPLACE "@SYSUSERS_FILE@" "${sysusers_file}" text "${text}")
  file(WRITE ${control_dir}/${script} "${text}")
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${CMAKE_CURRENT_LIST_DIR}/debian/${script})
endforeach()
# The configuration is the administrator's once installed: dpkg keeps their edits on upgrade.
file(WRITE ${control_dir}/conffiles "/etc/cxlmgr/cxlmgrd.json\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${control_dir}/postinst ${control_dir}/prerm ${control_dir}/postrm ${control_dir}/conffiles)
# Scripts 0755, conffiles 0644, whatever the umask of the build.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
