//===- Vulkan.cpp - qrt's Vulkan backend
//-----------------------------------===//
//
// One host-visible, coherent buffer per runtime buffer (weights, workspace,
// each input and output), persistently mapped; the weights are copied in
// once at load. Every dispatch gets its pipeline and descriptor set at
// load, and one command buffer records them all, each followed by a
// compute-to-compute memory barrier (the workspace plan reuses bytes
// across dispatches), then a compute-to-host barrier. A run copies the
// inputs in, submits, waits and copies the outputs out.
//
// Entry points come from vkGetInstanceProcAddr of a dlopen()ed
// libvulkan.so.1: qrt does not link the loader. The loader and one
// instance are opened once per process and shared by every Program.
//
//===----------------------------------------------------------------------===//

#include "Vulkan.h"

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>

namespace qrt::vulkan {

#define QRT_VK_INSTANCE_FUNCTIONS(X)                                           \
  X(vkDestroyInstance)                                                         \
  X(vkEnumeratePhysicalDevices)                                                \
  X(vkGetPhysicalDeviceProperties)                                             \
  X(vkGetPhysicalDeviceFeatures2)                                              \
  X(vkGetPhysicalDeviceQueueFamilyProperties)                                  \
  X(vkGetPhysicalDeviceMemoryProperties)                                       \
  X(vkCreateDevice)                                                            \
  X(vkGetDeviceProcAddr)

#define QRT_VK_DEVICE_FUNCTIONS(X)                                             \
  X(vkDestroyDevice)                                                           \
  X(vkGetDeviceQueue)                                                          \
  X(vkDeviceWaitIdle)                                                          \
  X(vkCreateBuffer)                                                            \
  X(vkDestroyBuffer)                                                           \
  X(vkGetBufferMemoryRequirements)                                             \
  X(vkAllocateMemory)                                                          \
  X(vkFreeMemory)                                                              \
  X(vkBindBufferMemory)                                                        \
  X(vkMapMemory)                                                               \
  X(vkCreateShaderModule)                                                      \
  X(vkDestroyShaderModule)                                                     \
  X(vkCreateDescriptorSetLayout)                                               \
  X(vkDestroyDescriptorSetLayout)                                              \
  X(vkCreatePipelineLayout)                                                    \
  X(vkDestroyPipelineLayout)                                                   \
  X(vkCreateComputePipelines)                                                  \
  X(vkDestroyPipeline)                                                         \
  X(vkCreateDescriptorPool)                                                    \
  X(vkDestroyDescriptorPool)                                                   \
  X(vkAllocateDescriptorSets)                                                  \
  X(vkUpdateDescriptorSets)                                                    \
  X(vkCreateCommandPool)                                                       \
  X(vkDestroyCommandPool)                                                      \
  X(vkAllocateCommandBuffers)                                                  \
  X(vkBeginCommandBuffer)                                                      \
  X(vkEndCommandBuffer)                                                        \
  X(vkCmdBindPipeline)                                                         \
  X(vkCmdBindDescriptorSets)                                                   \
  X(vkCmdDispatch)                                                             \
  X(vkCmdPipelineBarrier)                                                      \
  X(vkCreateFence)                                                             \
  X(vkDestroyFence)                                                            \
  X(vkResetFences)                                                             \
  X(vkWaitForFences)                                                           \
  X(vkQueueSubmit)

namespace {

struct DeviceBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void *mapped = nullptr;
  uint64_t bytes = 0;
};

std::string vkError(const std::string &what, VkResult r) {
  return what + " failed (VkResult " + std::to_string((int)r) + ")";
}

} // namespace

class Program {
public:
  ~Program();
  bool load(const Plan &plan, std::string &error);
  bool enumerate(std::vector<std::string> &names, std::string &error);
  bool run(const void *const *inputs, void *const *outputs, std::string &error);

  std::string deviceName;

private:
  bool useSharedInstance(std::string &error);
  bool pickDevice(const Plan &plan, std::string &error);
  bool createBuffer(uint64_t bytes, DeviceBuffer &out, std::string &error);
  DeviceBuffer *bufferFor(const Binding &b);

#define QRT_DECLARE(name) PFN_##name name = nullptr;
  QRT_VK_INSTANCE_FUNCTIONS(QRT_DECLARE)
  QRT_VK_DEVICE_FUNCTIONS(QRT_DECLARE)
#undef QRT_DECLARE

  /// The shared instance (see Loader) and the API version it was created
  /// for.
  VkInstance instance = VK_NULL_HANDLE;
  uint32_t instanceVersion = 0;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties properties{};
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queueFamily = 0;
  VkCommandPool commandPool = VK_NULL_HANDLE;
  VkCommandBuffer commands = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkDescriptorPool descriptorPool = VK_NULL_HANDLE;
  std::map<std::string, VkShaderModule> shaders;
  std::vector<VkDescriptorSetLayout> setLayouts;
  std::vector<VkPipelineLayout> pipelineLayouts;
  std::vector<VkPipeline> pipelines;
  DeviceBuffer weights, workspace;
  std::vector<DeviceBuffer> inputs, outputs;
  std::vector<uint64_t> inputBytes, outputBytes;
};

namespace {

/// The Vulkan loader and one instance, shared by every Program of the
/// process and kept until it exits. Creating an instance loads the drivers
/// (lavapipe brings in a whole LLVM), so a process that loads several
/// artifacts or lists its devices first pays for it once. Keeping them also
/// keeps the drivers mapped: a driver that the loader unloads takes its
/// globals with it, and what its one-time initialisation allocated would be
/// unreachable (LeakSanitizer reports it).
struct Loader {
  void *library = nullptr;
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
  VkInstance instance = VK_NULL_HANDLE;
  uint32_t instanceVersion = 0;
#define QRT_DECLARE(name) PFN_##name name = nullptr;
  QRT_VK_INSTANCE_FUNCTIONS(QRT_DECLARE)
#undef QRT_DECLARE

  bool open(std::string &error);
  void close();
};

bool Loader::open(std::string &error) {
  const char *name = "libvulkan.so.1";
  library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    error = std::string("no Vulkan: cannot load ") + name + " (" + dlerror() +
            "); install a Vulkan loader and driver (Debian: libvulkan1 "
            "mesa-vulkan-drivers)";
    return false;
  }
  vkGetInstanceProcAddr =
      (PFN_vkGetInstanceProcAddr)dlsym(library, "vkGetInstanceProcAddr");
  if (!vkGetInstanceProcAddr) {
    error = std::string(name) + " has no vkGetInstanceProcAddr";
    return false;
  }
  auto vkCreateInstance =
      (PFN_vkCreateInstance)vkGetInstanceProcAddr(nullptr, "vkCreateInstance");
  auto vkEnumerateInstanceVersion =
      (PFN_vkEnumerateInstanceVersion)vkGetInstanceProcAddr(
          nullptr, "vkEnumerateInstanceVersion");
  if (!vkCreateInstance) {
    error = "the Vulkan loader has no vkCreateInstance";
    return false;
  }
  uint32_t version = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion)
    vkEnumerateInstanceVersion(&version);
  if (version < VK_API_VERSION_1_2) {
    error = "the Vulkan loader supports Vulkan " +
            std::to_string(VK_API_VERSION_MAJOR(version)) + "." +
            std::to_string(VK_API_VERSION_MINOR(version)) +
            "; SPIR-V artifacts need Vulkan 1.2 or newer";
    return false;
  }
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "qrt";
  app.pEngineName = "qopt";
  app.apiVersion =
      VK_API_VERSION_1_3 <= version ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
  instanceVersion = app.apiVersion;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  if (VkResult r = vkCreateInstance(&info, nullptr, &instance)) {
    instance = VK_NULL_HANDLE;
    error = r == VK_ERROR_INCOMPATIBLE_DRIVER
                ? "no Vulkan driver: the loader found no installable client "
                  "driver (for a CPU device install Mesa's lavapipe, Debian "
                  "mesa-vulkan-drivers)"
                : vkError("vkCreateInstance", r);
    return false;
  }
#define QRT_LOAD(name)                                                         \
  name = (PFN_##name)vkGetInstanceProcAddr(instance, #name);                   \
  if (!name) {                                                                 \
    error = "the Vulkan loader lacks " #name;                                  \
    return false;                                                              \
  }
  QRT_VK_INSTANCE_FUNCTIONS(QRT_LOAD)
#undef QRT_LOAD
  return true;
}

void Loader::close() {
  if (instance && vkDestroyInstance)
    vkDestroyInstance(instance, nullptr);
  if (library)
    dlclose(library);
  *this = Loader();
}

/// The process's loader, opened on first use. A failure is not kept: the
/// next call tries again (and gets the same clear error if nothing changed).
const Loader *sharedLoader(std::string &error) {
  static std::mutex mutex;
  static Loader *shared = nullptr; // never freed: see Loader
  std::lock_guard<std::mutex> lock(mutex);
  if (shared)
    return shared;
  auto loader = std::make_unique<Loader>();
  if (!loader->open(error)) {
    loader->close();
    return nullptr;
  }
  shared = loader.release();
  return shared;
}

} // namespace

bool Program::useSharedInstance(std::string &error) {
  const Loader *loader = sharedLoader(error);
  if (!loader)
    return false;
  instance = loader->instance;
  instanceVersion = loader->instanceVersion;
#define QRT_COPY(name) name = loader->name;
  QRT_VK_INSTANCE_FUNCTIONS(QRT_COPY)
#undef QRT_COPY
  return true;
}

/// Whether the device has what `capability` needs, enabling it in the
/// feature structures passed to vkCreateDevice; false for capabilities this
/// runtime does not know.
static bool requireCapability(const std::string &capability,
                              const VkPhysicalDeviceFeatures2 &have,
                              const VkPhysicalDeviceVulkan11Features &have11,
                              const VkPhysicalDeviceVulkan12Features &have12,
                              const VkPhysicalDeviceVulkan13Features &have13,
                              VkPhysicalDeviceFeatures2 &want,
                              VkPhysicalDeviceVulkan11Features &want11,
                              VkPhysicalDeviceVulkan12Features &want12,
                              VkPhysicalDeviceVulkan13Features &want13,
                              bool &known) {
  known = true;
#define QRT_FEATURE(cap, have, want, field)                                    \
  if (capability == cap) {                                                     \
    want.field = have.field;                                                   \
    return have.field == VK_TRUE;                                              \
  }
  if (capability == "Shader" || capability == "Matrix")
    return true;
  QRT_FEATURE("Int64", have, want, features.shaderInt64)
  QRT_FEATURE("Int16", have, want, features.shaderInt16)
  QRT_FEATURE("Float64", have, want, features.shaderFloat64)
  QRT_FEATURE("Int8", have12, want12, shaderInt8)
  QRT_FEATURE("Float16", have12, want12, shaderFloat16)
  QRT_FEATURE("StorageBuffer8BitAccess", have12, want12,
              storageBuffer8BitAccess)
  QRT_FEATURE("UniformAndStorageBuffer8BitAccess", have12, want12,
              uniformAndStorageBuffer8BitAccess)
  QRT_FEATURE("StorageBuffer16BitAccess", have11, want11,
              storageBuffer16BitAccess)
  // OpSDot (VK_KHR_shader_integer_dot_product, core in Vulkan 1.3; have13
  // is all false on a 1.2 device).
  QRT_FEATURE("DotProduct", have13, want13, shaderIntegerDotProduct)
  QRT_FEATURE("DotProductInput4x8Bit", have13, want13,
              shaderIntegerDotProduct)
  QRT_FEATURE("DotProductInput4x8BitPacked", have13, want13,
              shaderIntegerDotProduct)
#undef QRT_FEATURE
  known = false;
  return false;
}

bool Program::enumerate(std::vector<std::string> &names, std::string &error) {
  if (!useSharedInstance(error))
    return false;
  uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance, &count, nullptr);
  std::vector<VkPhysicalDevice> devices(count);
  if (count)
    vkEnumeratePhysicalDevices(instance, &count, devices.data());
  for (VkPhysicalDevice d : devices) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(d, &p);
    names.push_back(p.deviceName);
  }
  return true;
}

bool Program::pickDevice(const Plan &plan, std::string &error) {
  uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance, &count, nullptr);
  std::vector<VkPhysicalDevice> devices(count);
  if (count)
    vkEnumeratePhysicalDevices(instance, &count, devices.data());
  if (devices.empty()) {
    error = "no Vulkan device: the loader found no driver with a device "
            "(for a CPU device install Mesa's lavapipe, Debian "
            "mesa-vulkan-drivers)";
    return false;
  }
  std::vector<std::string> names;
  for (VkPhysicalDevice d : devices) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(d, &p);
    names.push_back(p.deviceName);
  }
  auto listing = [&] {
    std::string s;
    for (size_t i = 0; i < names.size(); ++i)
      s += (i ? ", " : "") + std::to_string(i) + ": " + names[i];
    return s;
  };
  size_t chosen = 0;
  if (const char *env = std::getenv("QRT_VULKAN_DEVICE"); env && *env) {
    char *end = nullptr;
    unsigned long index = std::strtoul(env, &end, 10);
    if (end && *end == 0) {
      if (index >= devices.size()) {
        error = "QRT_VULKAN_DEVICE=" + std::string(env) + " names no device (" +
                listing() + ")";
        return false;
      }
      chosen = index;
    } else {
      auto it = std::find_if(names.begin(), names.end(), [&](auto &n) {
        return n.find(env) != std::string::npos;
      });
      if (it == names.end()) {
        error = "QRT_VULKAN_DEVICE=" + std::string(env) +
                " matches no device (" + listing() + ")";
        return false;
      }
      chosen = it - names.begin();
    }
  }
  physical = devices[chosen];
  vkGetPhysicalDeviceProperties(physical, &properties);
  deviceName = properties.deviceName;
  if (properties.apiVersion < VK_API_VERSION_1_2) {
    error = "Vulkan device '" + deviceName +
            "' supports Vulkan 1.0/1.1 only; SPIR-V artifacts need 1.2";
    return false;
  }

  // The Vulkan 1.3 feature structure is chained only where both the
  // device and the instance speak 1.3.
  bool vulkan13 = properties.apiVersion >= VK_API_VERSION_1_3 &&
                  instanceVersion >= VK_API_VERSION_1_3;
  VkPhysicalDeviceVulkan13Features have13{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceVulkan12Features have12{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
      vulkan13 ? &have13 : nullptr};
  VkPhysicalDeviceVulkan11Features have11{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, &have12};
  VkPhysicalDeviceFeatures2 have{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                 &have11};
  vkGetPhysicalDeviceFeatures2(physical, &have);
  VkPhysicalDeviceVulkan13Features want13{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceVulkan12Features want12{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
      vulkan13 ? &want13 : nullptr};
  VkPhysicalDeviceVulkan11Features want11{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, &want12};
  VkPhysicalDeviceFeatures2 want{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                 &want11};
  for (const Dispatch &d : plan.dispatches)
    for (const std::string &cap : d.capabilities) {
      bool known = false;
      if (!requireCapability(cap, have, have11, have12, have13, want, want11,
                             want12, want13, known)) {
        error = known ? "Vulkan device '" + deviceName +
                            "' lacks the feature SPIR-V capability " + cap +
                            " needs (kernel " + d.entry + " in " + d.file +
                            "); recompile with fewer --features"
                      : "kernel " + d.entry + " in " + d.file +
                            " needs SPIR-V capability " + cap +
                            ", which this runtime cannot check";
        return false;
      }
    }
  for (const Dispatch &d : plan.dispatches) {
    const uint32_t *max = properties.limits.maxComputeWorkGroupCount;
    for (int i = 0; i < 3; ++i)
      if (d.workgroups[i] > max[i]) {
        error = "kernel " + d.entry + " needs " +
                std::to_string(d.workgroups[i]) +
                " workgroups in one dimension; device '" + deviceName +
                "' allows " + std::to_string(max[i]);
        return false;
      }
  }

  uint32_t families = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &families, nullptr);
  std::vector<VkQueueFamilyProperties> props(families);
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &families, props.data());
  bool found = false;
  for (uint32_t i = 0; i < families && !found; ++i)
    if (props[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
      queueFamily = i, found = true;
  if (!found) {
    error = "Vulkan device '" + deviceName + "' has no compute queue";
    return false;
  }
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queueInfo{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queueInfo.queueFamilyIndex = queueFamily;
  queueInfo.queueCount = 1;
  queueInfo.pQueuePriorities = &priority;
  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &want};
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queueInfo;
  if (VkResult r = vkCreateDevice(physical, &info, nullptr, &device)) {
    error = vkError("vkCreateDevice", r);
    return false;
  }
#define QRT_LOAD(name)                                                         \
  name = (PFN_##name)vkGetDeviceProcAddr(device, #name);                       \
  if (!name) {                                                                 \
    error = "the Vulkan driver lacks " #name;                                  \
    return false;                                                              \
  }
  QRT_VK_DEVICE_FUNCTIONS(QRT_LOAD)
#undef QRT_LOAD
  vkGetDeviceQueue(device, queueFamily, 0, &queue);
  return true;
}

bool Program::createBuffer(uint64_t bytes, DeviceBuffer &out,
                           std::string &error) {
  // Vulkan has no empty buffers; storage ranges are multiples of 4 bytes.
  out.bytes = bytes;
  uint64_t size = std::max<uint64_t>(16, (bytes + 15) / 16 * 16);
  // A size beyond every heap is an edited manifest or a model too big for
  // the device: say so rather than let the driver try (lavapipe mallocs it).
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(physical, &mem);
  uint64_t largestHeap = 0;
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    largestHeap = std::max<uint64_t>(largestHeap, mem.memoryHeaps[i].size);
  if (size > largestHeap) {
    error = "a device buffer of " + std::to_string(size) +
            " bytes is larger than the device's memory (its largest heap has " +
            std::to_string(largestHeap) + " bytes)";
    return false;
  }
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = size;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  if (VkResult r = vkCreateBuffer(device, &info, nullptr, &out.buffer)) {
    error = vkError("vkCreateBuffer", r);
    return false;
  }
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device, out.buffer, &req);
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int typeIndex = -1;
  // Device-local and host-visible first (integrated GPUs, lavapipe, BAR).
  for (VkMemoryPropertyFlags flags :
       {host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, host}) {
    for (uint32_t i = 0; i < mem.memoryTypeCount && typeIndex < 0; ++i)
      if ((req.memoryTypeBits & (1u << i)) &&
          (mem.memoryTypes[i].propertyFlags & flags) == flags)
        typeIndex = (int)i;
    if (typeIndex >= 0)
      break;
  }
  if (typeIndex < 0) {
    error = "Vulkan device '" + deviceName +
            "' has no host-visible coherent memory for storage buffers";
    return false;
  }
  uint64_t heap = mem.memoryHeaps[mem.memoryTypes[typeIndex].heapIndex].size;
  if (req.size > heap) {
    error = "a device buffer of " + std::to_string(req.size) +
            " bytes is larger than the memory heap it must live in (" +
            std::to_string(heap) + " bytes)";
    return false;
  }
  VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  alloc.allocationSize = req.size;
  alloc.memoryTypeIndex = (uint32_t)typeIndex;
  if (VkResult r = vkAllocateMemory(device, &alloc, nullptr, &out.memory)) {
    error =
        vkError("vkAllocateMemory (" + std::to_string(req.size) + " bytes)", r);
    return false;
  }
  if (VkResult r = vkBindBufferMemory(device, out.buffer, out.memory, 0)) {
    error = vkError("vkBindBufferMemory", r);
    return false;
  }
  if (VkResult r =
          vkMapMemory(device, out.memory, 0, VK_WHOLE_SIZE, 0, &out.mapped)) {
    error = vkError("vkMapMemory", r);
    return false;
  }
  return true;
}

DeviceBuffer *Program::bufferFor(const Binding &b) {
  switch (b.buffer) {
  case BufferKind::Weights:
    return &weights;
  case BufferKind::Workspace:
    return &workspace;
  case BufferKind::Input:
    return b.index < inputs.size() ? &inputs[b.index] : nullptr;
  case BufferKind::Output:
    return b.index < outputs.size() ? &outputs[b.index] : nullptr;
  }
  return nullptr;
}

bool Program::load(const Plan &plan, std::string &error) {
  if (!useSharedInstance(error) || !pickDevice(plan, error))
    return false;
  inputBytes = plan.inputBytes;
  outputBytes = plan.outputBytes;
  if (!createBuffer(plan.weightsBytes, weights, error) ||
      !createBuffer(plan.workspaceBytes, workspace, error))
    return false;
  if (plan.weightsBytes)
    std::memcpy(weights.mapped, plan.weights, plan.weightsBytes);
  inputs.resize(plan.inputBytes.size());
  outputs.resize(plan.outputBytes.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!createBuffer(plan.inputBytes[i], inputs[i], error))
      return false;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (!createBuffer(plan.outputBytes[i], outputs[i], error))
      return false;

  // Shader modules, one per file.
  for (const Dispatch &d : plan.dispatches) {
    if (shaders.count(d.file))
      continue;
    std::ifstream in(plan.dir + "/" + d.file, std::ios::binary);
    std::string code((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      error = "cannot read " + plan.dir + "/" + d.file;
      return false;
    }
    if (code.empty() || code.size() % 4) {
      error = plan.dir + "/" + d.file + " is not a SPIR-V module";
      return false;
    }
    std::vector<uint32_t> words(code.size() / 4);
    std::memcpy(words.data(), code.data(), code.size());
    VkShaderModuleCreateInfo info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    info.codeSize = code.size();
    info.pCode = words.data();
    VkShaderModule module;
    if (VkResult r = vkCreateShaderModule(device, &info, nullptr, &module)) {
      error = vkError("vkCreateShaderModule for " + d.file, r);
      return false;
    }
    shaders[d.file] = module;
  }

  uint32_t descriptorCount = 0;
  for (const Dispatch &d : plan.dispatches)
    descriptorCount += (uint32_t)d.bindings.size();
  if (!plan.dispatches.empty()) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                              std::max(1u, descriptorCount)};
    VkDescriptorPoolCreateInfo info{
        VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    info.maxSets = (uint32_t)plan.dispatches.size();
    info.poolSizeCount = 1;
    info.pPoolSizes = &size;
    if (VkResult r =
            vkCreateDescriptorPool(device, &info, nullptr, &descriptorPool)) {
      error = vkError("vkCreateDescriptorPool", r);
      return false;
    }
  }

  VkCommandPoolCreateInfo poolInfo{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  poolInfo.queueFamilyIndex = queueFamily;
  if (VkResult r =
          vkCreateCommandPool(device, &poolInfo, nullptr, &commandPool)) {
    error = vkError("vkCreateCommandPool", r);
    return false;
  }
  VkCommandBufferAllocateInfo cbInfo{
      VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cbInfo.commandPool = commandPool;
  cbInfo.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cbInfo.commandBufferCount = 1;
  if (VkResult r = vkAllocateCommandBuffers(device, &cbInfo, &commands)) {
    error = vkError("vkAllocateCommandBuffers", r);
    return false;
  }
  VkFenceCreateInfo fenceInfo{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  if (VkResult r = vkCreateFence(device, &fenceInfo, nullptr, &fence)) {
    error = vkError("vkCreateFence", r);
    return false;
  }
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  if (VkResult r = vkBeginCommandBuffer(commands, &begin)) {
    error = vkError("vkBeginCommandBuffer", r);
    return false;
  }

  const uint64_t alignment = properties.limits.minStorageBufferOffsetAlignment;
  for (const Dispatch &d : plan.dispatches) {
    std::vector<VkDescriptorSetLayoutBinding> layoutBindings;
    std::vector<VkDescriptorBufferInfo> infos;
    for (const Binding &b : d.bindings) {
      DeviceBuffer *buffer = bufferFor(b);
      if (!buffer || b.offset + b.bytes > buffer->bytes ||
          (alignment && b.offset % alignment)) {
        error = "kernel " + d.entry + " in " + d.file + ": binding " +
                std::to_string(b.binding) +
                (buffer ? (b.offset % std::max<uint64_t>(1, alignment)
                               ? " is at offset " + std::to_string(b.offset) +
                                     ", not a multiple of the device's "
                                     "minStorageBufferOffsetAlignment (" +
                                     std::to_string(alignment) + ")"
                               : " lies outside its buffer")
                        : " names a buffer the model does not have");
        return false;
      }
      VkDescriptorSetLayoutBinding lb{};
      lb.binding = b.binding;
      lb.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      lb.descriptorCount = 1;
      lb.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
      layoutBindings.push_back(lb);
      infos.push_back(
          {buffer->buffer, b.offset, b.bytes ? b.bytes : VK_WHOLE_SIZE});
    }
    VkDescriptorSetLayoutCreateInfo layoutInfo{
        VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    layoutInfo.bindingCount = (uint32_t)layoutBindings.size();
    layoutInfo.pBindings = layoutBindings.data();
    VkDescriptorSetLayout setLayout;
    if (VkResult r = vkCreateDescriptorSetLayout(device, &layoutInfo, nullptr,
                                                 &setLayout)) {
      error = vkError("vkCreateDescriptorSetLayout", r);
      return false;
    }
    setLayouts.push_back(setLayout);
    VkPipelineLayoutCreateInfo plInfo{
        VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    plInfo.setLayoutCount = 1;
    plInfo.pSetLayouts = &setLayout;
    VkPipelineLayout pipelineLayout;
    if (VkResult r =
            vkCreatePipelineLayout(device, &plInfo, nullptr, &pipelineLayout)) {
      error = vkError("vkCreatePipelineLayout", r);
      return false;
    }
    pipelineLayouts.push_back(pipelineLayout);
    VkComputePipelineCreateInfo pipeInfo{
        VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    pipeInfo.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    pipeInfo.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pipeInfo.stage.module = shaders[d.file];
    pipeInfo.stage.pName = d.entry.c_str();
    pipeInfo.layout = pipelineLayout;
    VkPipeline pipeline;
    if (VkResult r = vkCreateComputePipelines(device, VK_NULL_HANDLE, 1,
                                              &pipeInfo, nullptr, &pipeline)) {
      error = vkError(
          ("vkCreateComputePipelines for " + d.entry + " in " + d.file).c_str(),
          r);
      return false;
    }
    pipelines.push_back(pipeline);
    VkDescriptorSetAllocateInfo setInfo{
        VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    setInfo.descriptorPool = descriptorPool;
    setInfo.descriptorSetCount = 1;
    setInfo.pSetLayouts = &setLayout;
    VkDescriptorSet set;
    if (VkResult r = vkAllocateDescriptorSets(device, &setInfo, &set)) {
      error = vkError("vkAllocateDescriptorSets", r);
      return false;
    }
    std::vector<VkWriteDescriptorSet> writes;
    for (size_t i = 0; i < infos.size(); ++i) {
      VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
      w.dstSet = set;
      w.dstBinding = d.bindings[i].binding;
      w.descriptorCount = 1;
      w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w.pBufferInfo = &infos[i];
      writes.push_back(w);
    }
    vkUpdateDescriptorSets(device, (uint32_t)writes.size(), writes.data(), 0,
                           nullptr);

    vkCmdBindPipeline(commands, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(commands, VK_PIPELINE_BIND_POINT_COMPUTE,
                            pipelineLayout, 0, 1, &set, 0, nullptr);
    vkCmdDispatch(commands, d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    // The next dispatch reads what this one wrote, and the workspace plan
    // lets it overwrite what this one read.
    VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    barrier.srcAccessMask =
        VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT;
    barrier.dstAccessMask =
        VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier,
                         0, nullptr, 0, nullptr);
  }
  VkMemoryBarrier toHost{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  toHost.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  toHost.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &toHost, 0, nullptr, 0,
                       nullptr);
  if (VkResult r = vkEndCommandBuffer(commands)) {
    error = vkError("vkEndCommandBuffer", r);
    return false;
  }
  return true;
}

bool Program::run(const void *const *in, void *const *out, std::string &error) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputBytes[i])
      std::memcpy(inputs[i].mapped, in[i], inputBytes[i]);
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &commands;
  if (VkResult r = vkResetFences(device, 1, &fence)) {
    error = vkError("vkResetFences", r);
    return false;
  }
  if (VkResult r = vkQueueSubmit(queue, 1, &submit, fence)) {
    error = vkError("vkQueueSubmit", r);
    return false;
  }
  if (VkResult r = vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX)) {
    error = vkError("vkWaitForFences", r);
    return false;
  }
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputBytes[i])
      std::memcpy(out[i], outputs[i].mapped, outputBytes[i]);
  return true;
}

Program::~Program() {
  if (device) {
    vkDeviceWaitIdle(device);
    if (fence)
      vkDestroyFence(device, fence, nullptr);
    if (commandPool)
      vkDestroyCommandPool(device, commandPool, nullptr);
    for (VkPipeline p : pipelines)
      vkDestroyPipeline(device, p, nullptr);
    for (VkPipelineLayout l : pipelineLayouts)
      vkDestroyPipelineLayout(device, l, nullptr);
    for (VkDescriptorSetLayout l : setLayouts)
      vkDestroyDescriptorSetLayout(device, l, nullptr);
    if (descriptorPool)
      vkDestroyDescriptorPool(device, descriptorPool, nullptr);
    for (auto &kv : shaders)
      vkDestroyShaderModule(device, kv.second, nullptr);
    auto release = [&](DeviceBuffer &b) {
      if (b.buffer)
        vkDestroyBuffer(device, b.buffer, nullptr);
      if (b.memory)
        vkFreeMemory(device, b.memory, nullptr);
    };
    release(weights);
    release(workspace);
    for (DeviceBuffer &b : inputs)
      release(b);
    for (DeviceBuffer &b : outputs)
      release(b);
    vkDestroyDevice(device, nullptr);
  }
}

ProgramPtr load(const Plan &plan, std::string &error) {
  ProgramPtr program(new Program());
  if (!program->load(plan, error))
    return nullptr;
  return program;
}

bool run(Program &program, const void *const *inputs, void *const *outputs,
         std::string &error) {
  return program.run(inputs, outputs, error);
}

bool listDevices(std::vector<std::string> &names, std::string &error) {
  Program program;
  return program.enumerate(names, error);
}

const std::string &deviceName(const Program &program) {
  return program.deviceName;
}

void destroy(Program *program) { delete program; }

} // namespace qrt::vulkan
