// Opening the mailbox (readiness, payload size, bounds of the payload area) and its
// out-of-band registers; the command path is in mailbox.cpp.
#include <boost/asio/post.hpp>

#include "cxl/command_table.hpp"
#include "cxl/mailbox.hpp"
#include "cxl/mailbox_registers.hpp"

namespace cxlmgr::cxl {

using namespace detail;

MemdevStatus decode_memdev_status(uint64_t raw) {
    MemdevStatus s;
    s.raw = raw;
    s.fatal = (raw & 0x1) != 0;
    s.fw_halt = (raw & 0x2) != 0;
    s.media_status = static_cast<uint8_t>((raw >> 2) & 0x3);
    s.mailbox_ready = (raw & kMemdevMailboxReady) != 0;
    s.reset_needed = static_cast<uint8_t>((raw >> 5) & 0x7);
    return s;
}

Result<uint32_t> payload_size_from_capabilities(uint32_t capabilities) {
    const unsigned n = capabilities & 0x1F;
    if (n < 8) {
        return Error(Errc::DeviceError, "mailbox payload size 2^" + std::to_string(n) + " = " +
                                            std::to_string(1u << n) +
                                            " bytes is below the 256-byte minimum");
    }
    return n > 20 ? kMaxPayloadSize : (1u << n);
}

Result<std::shared_ptr<Mailbox>> Mailbox::open(boost::asio::any_io_executor executor,
                                               std::shared_ptr<pci::PciDevice> device,
                                               MailboxConfig config) {
    CXLMGR_ASSIGN(DeviceRegisterMap map, discover_device_registers(*device));
    const std::string ctx = device->name() + ": ";
    pci::MmioRegion& bar = *map.bar;
    const uint32_t caps = bar.read32(map.mailbox.offset + mbox_reg::kCapabilities);
    if (caps == 0xFFFFFFFFu) {
        return Error(Errc::DeviceGone, ctx + "mailbox capabilities register reads all-ones");
    }
    auto payload = payload_size_from_capabilities(caps);
    if (!payload.ok()) {
        return std::move(payload).error().with_context(device->name());
    }
    if (map.mailbox.length < mbox_reg::kPayload + *payload) {
        return Error(Errc::DeviceError, ctx + "the Primary Mailbox capability is " +
                                            hex(map.mailbox.length) +
                                            " bytes long, too short for its registers and its " +
                                            std::to_string(*payload) + "-byte payload area");
    }
    const uint64_t memdev = bar.read64(map.memdev_status.offset);
    if (memdev == ~0ull) {
        return Error(Errc::DeviceGone, ctx + "Memory Device Status reads all-ones");
    }
    if ((memdev & kMemdevMailboxReady) == 0) {
        return Error(Errc::Busy, ctx +
                                     "the mailbox interface is not ready (Memory Device "
                                     "Status " +
                                     hex(memdev) + ")");
    }
    return std::make_shared<Mailbox>(Private{}, std::move(executor), std::move(device),
                                     std::move(map), config, *payload);
}

void Mailbox::async_open(boost::asio::any_io_executor executor,
                         std::shared_ptr<pci::PciDevice> device, MailboxConfig config,
                         CancelToken cancel, OpenCallback done) {
    auto map = discover_device_registers(*device);
    if (!map.ok()) {
        boost::asio::post(executor,
                          [done = std::move(done), e = std::move(map).error()] { done(e); });
        return;
    }
    // What was last seen, so a timeout can say which condition never held.
    auto last = std::make_shared<std::string>("nothing read yet");
    pci::MmioRegion* bar = map->bar;
    const uint64_t memdev_at = map->memdev_status.offset;
    const uint64_t control_at = map->mailbox.offset + mbox_reg::kControl;
    auto check = [device, bar, memdev_at, control_at, last]() -> Result<bool> {
        const uint64_t memdev = bar->read64(memdev_at);
        const uint32_t control = bar->read32(control_at);
        if (memdev == ~0ull || control == 0xFFFFFFFFu) {
            return Error(Errc::DeviceGone, device->name() + ": mailbox registers read all-ones");
        }
        if ((memdev & kMemdevMailboxReady) == 0) {
            *last = "the mailbox interface is not ready (Memory Device Status " + hex(memdev) + ")";
            return false;
        }
        if ((control & kControlDoorbell) != 0) {
            *last = "the doorbell is still set by a previous owner";
            return false;
        }
        return true;
    };
    auto finish = [executor, device, config, last, done = std::move(done)](Status s) {
        if (s.ok()) {
            done(open(executor, device, config));
            return;
        }
        Error e = std::move(s).error();
        if (e.code == Errc::Timeout) {
            e.message = device->name() + ": " + *last + " after " + ms(config.ready_timeout);
        } else if (e.code == Errc::Cancelled) {
            e.message = device->name() + ": opening the mailbox was cancelled (" + *last + ")";
        }
        done(e);
    };
    async_poll(executor, Backoff{std::chrono::milliseconds(1), std::chrono::milliseconds(100), 2},
               Clock::now() + config.ready_timeout, std::move(cancel), std::move(check),
               std::move(finish));
}

Status Mailbox::reset() {
    std::lock_guard lock(mutex_);
    if (in_flight_) {
        return Error(Errc::Busy, name_ + ": cannot reset the mailbox while " +
                                     opcode::describe(in_flight_opcode_) + " is in flight");
    }
    const uint32_t control = bar_.read32(reg(mbox_reg::kControl));
    const uint64_t memdev = bar_.read64(map_.memdev_status.offset);
    if (control == 0xFFFFFFFFu || memdev == ~0ull) {
        return gone("the mailbox");
    }
    if ((control & kControlDoorbell) != 0) {
        return Error(Errc::Busy, name_ +
                                     ": the doorbell is still set; the device has not "
                                     "finished the command that timed out");
    }
    if ((memdev & kMemdevMailboxReady) == 0) {
        return Error(Errc::Busy, name_ + ": the mailbox interface is not ready");
    }
    auto payload = payload_size_from_capabilities(bar_.read32(reg(mbox_reg::kCapabilities)));
    if (!payload.ok()) {
        return std::move(payload).error().with_context(name_);
    }
    if (map_.mailbox.length < mbox_reg::kPayload + *payload) {
        return Error(Errc::DeviceError, name_ + ": the payload size grew to " +
                                            std::to_string(*payload) +
                                            " bytes, past the Primary Mailbox capability");
    }
    payload_size_ = *payload;
    failure_.reset();
    return ok_status();
}

Result<uint32_t> Mailbox::read_event_status() {
    const uint32_t v = bar_.read32(map_.device_status.offset);
    if (v == 0xFFFFFFFFu) {
        return gone("Event Status");
    }
    return v;
}

Result<MemdevStatus> Mailbox::read_memdev_status() {
    const uint64_t v = bar_.read64(map_.memdev_status.offset);
    if (v == ~0ull) {
        return gone("Memory Device Status");
    }
    return decode_memdev_status(v);
}

}  // namespace cxlmgr::cxl
