# Run by `cmake --install` (see CMakeLists.txt): installs cxlmgrd.service and cxlmgrd.json where
# the install prefix puts them. Under /usr they go to systemd's unit directory and /etc/cxlmgr;
# under any other prefix to PREFIX/lib/systemd/system and PREFIX/etc/cxlmgr. The unit in the
# source tree names /usr/sbin/cxlmgrd and /etc/cxlmgr/cxlmgrd.json; the installed one names the
# paths of this install. file(INSTALL) adds DESTDIR itself.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unit_dir ${CXLMGR_SYSTEM_UNIT_DIR})
  set(config_dir /etc/cxlmgr)
else()
  set(unit_dir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
  set(config_dir ${CMAKE_INSTALL_PREFIX}/etc/cxlmgr)
endif()

file(READ ${CXLMGR_UNIT_SOURCE} unit)
string(REPLACE "/usr/sbin/cxlmgrd" "${CMAKE_INSTALL_PREFIX}/${CXLMGR_SBINDIR}/cxlmgrd" unit
       "${unit}")
string(REPLACE "/etc/cxlmgr/cxlmgrd.json" "${config_dir}/cxlmgrd.json" unit "${unit}")
set(staged ${CXLMGR_WORK_DIR}/staged/cxlmgrd.service)
file(WRITE ${staged} "${unit}")

file(INSTALL DESTINATION ${unit_dir} TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
     WORLD_READ FILES ${staged})
file(INSTALL DESTINATION ${config_dir} TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
     WORLD_READ FILES ${CXLMGR_CONFIG_SOURCE})
