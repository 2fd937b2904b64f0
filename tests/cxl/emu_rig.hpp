// The host mailbox opened on the emulated Type-3 device (emu/) through pci::EmulatedDevice:
// the same code path as real hardware, against an independently written device model.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "cxl/commands/firmware.hpp"
#include "cxl/mailbox.hpp"
#include "emu/type3_device.hpp"
#include "pci/emulated_device.hpp"

namespace cxlmgr::testing {

using namespace std::chrono_literals;

struct EmuRig {
    boost::asio::io_context io;
    std::shared_ptr<emu::Type3Device> model;
    std::shared_ptr<cxl::Mailbox> mailbox;

    explicit EmuRig(nlohmann::json description = nlohmann::json::object(),
                    cxl::MailboxConfig config = {}) {
        if (!description.contains("name")) {
            description["name"] = "emu0";
        }
        auto d = emu::parse_device_description(description);
        if (!d.ok()) {
            throw std::runtime_error(d.error().describe());
        }
        auto m = emu::Type3Device::create(std::move(*d));
        if (!m.ok()) {
            throw std::runtime_error(m.error().describe());
        }
        model = *m;
        auto mb = cxl::Mailbox::open(io.get_executor(),
                                     std::make_shared<pci::EmulatedDevice>(model), config);
        if (!mb.ok()) {
            throw std::runtime_error(mb.error().describe());
        }
        mailbox = *mb;
    }

    Result<cxl::MailboxResponse> raw(cxl::MailboxRequest request, CancelToken cancel = {}) {
        std::optional<Result<cxl::MailboxResponse>> out;
        mailbox->async_command(std::move(request), std::move(cancel),
                               [&](Result<cxl::MailboxResponse> r) { out = std::move(r); });
        io.restart();
        io.run();
        if (!out) {
            throw std::runtime_error("the command never completed");
        }
        return std::move(*out);
    }

    // Sends a typed command and parses its answer.
    template <typename T>
    Result<T> typed(cxl::Command<T> command) {
        auto r = raw(command.request);
        if (!r.ok()) {
            return std::move(r).error();
        }
        return cxl::parse(command, *r);
    }

    // Streams `image` into `slot` in payload-sized parts: initiate, continue..., end (or one
    // full transfer when it fits a single part).
    Status transfer(cxl::ByteSpan image, uint8_t slot,
                    std::function<void(unsigned)> on_progress = {}) {
        const uint32_t payload = mailbox->payload_size();
        const uint64_t chunk = cxl::transfer_fw_max_data(payload);
        for (uint64_t offset = 0; offset < image.size(); offset += chunk) {
            const uint64_t n = std::min<uint64_t>(chunk, image.size() - offset);
            const bool first = offset == 0;
            const bool last = offset + n == image.size();
            cxl::TransferFwPart part;
            part.action = first && last ? cxl::TransferAction::Full
                          : first       ? cxl::TransferAction::Initiate
                          : last        ? cxl::TransferAction::End
                                        : cxl::TransferAction::Continue;
            part.slot = last ? slot : 0;
            part.offset_bytes = offset;
            part.data = image.subspan(offset, n);
            auto command = cxl::transfer_fw(part, payload);
            if (!command.ok()) {
                return std::move(command).error();
            }
            command->request.options.on_progress = on_progress;
            auto s = typed(std::move(*command));
            if (!s.ok()) {
                return std::move(s).error().with_context("offset " + std::to_string(offset));
            }
        }
        return ok_status();
    }
};

}  // namespace cxlmgr::testing
