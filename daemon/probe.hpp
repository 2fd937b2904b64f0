// `cxlmgrd --probe`: opens the configured devices the way the service does and reports what a
// host finds on each (identity, capabilities, CXL DVSECs, register blocks), then exits. For an
// operator checking a server before starting the service, and for the demo.
#pragma once

#include <ostream>

#include "common/result.hpp"
#include "pci/pci_device.hpp"

namespace cxlmgr::daemon {

Status print_probe_report(pci::PciDevice& device, std::ostream& out);

}  // namespace cxlmgr::daemon
