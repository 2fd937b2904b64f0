#include "pci/emulated_device.hpp"

namespace cxlmgr::pci {

class EmulatedDevice::Config : public ConfigSpace {
public:
    explicit Config(DeviceModel& model) : model_(model), identity_(model.identity()) {}

    [[nodiscard]] uint32_t size() const override { return model_.config_size(); }
    [[nodiscard]] const DeviceIdentity& identity() const override { return identity_; }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override {
        return model_.config_read(offset, width);
    }
    Status do_write(uint32_t offset, unsigned width, uint32_t value) override {
        model_.config_write(offset, width, value);
        return ok_status();
    }

private:
    DeviceModel& model_;
    DeviceIdentity identity_;
};

class EmulatedDevice::Bar : public MmioRegion {
public:
    Bar(DeviceModel& model, unsigned index)
        : model_(model), index_(index), size_(model.bar_size(index)) {}

    [[nodiscard]] uint64_t size() const override { return size_; }

protected:
    uint32_t do_read32(uint64_t offset) override {
        return static_cast<uint32_t>(model_.mmio_read(index_, offset, 4));
    }
    uint64_t do_read64(uint64_t offset) override { return model_.mmio_read(index_, offset, 8); }
    void do_write32(uint64_t offset, uint32_t value) override {
        model_.mmio_write(index_, offset, 4, value);
    }
    void do_write64(uint64_t offset, uint64_t value) override {
        model_.mmio_write(index_, offset, 8, value);
    }

private:
    DeviceModel& model_;
    unsigned index_;
    uint64_t size_;
};

EmulatedDevice::EmulatedDevice(std::shared_ptr<DeviceModel> model)
    : model_(std::move(model)), config_(std::make_unique<Config>(*model_)) {
    // Created up front, not lazily: channels of one device may ask for BARs from two threads.
    for (unsigned i = 0; i < kBarCount; ++i) {
        if (model_->bar_size(i) != 0) {
            bars_[i] = std::make_unique<Bar>(*model_, i);
        }
    }
}

EmulatedDevice::~EmulatedDevice() = default;

ConfigSpace& EmulatedDevice::config() {
    return *config_;
}

std::string EmulatedDevice::name() const {
    return model_->name();
}

Result<MmioRegion*> EmulatedDevice::bar(unsigned index) {
    if (index >= kBarCount || !bars_[index]) {
        return Error(Errc::NotFound,
                     model_->name() + ": BAR " + std::to_string(index) + " is not implemented");
    }
    return static_cast<MmioRegion*>(bars_[index].get());
}

}  // namespace cxlmgr::pci
