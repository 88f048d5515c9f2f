// The JavaScript face of the addon: open() returns a data plane object or a failure record
// (C++ exceptions are off, and a record lets backends/udp/dgram-native.ts build a FlannelError
// with the syscall and errno name). Only steering crosses this boundary, never packets.
#include <napi.h>
#include <string.h>

#include <memory>
#include <vector>

#include "data_plane.h"

namespace {

using dgram::DataPlane;

class DataPlaneObject : public Napi::ObjectWrap<DataPlaneObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DataPlane",
                       {InstanceMethod("setPeers", &DataPlaneObject::SetPeers), InstanceMethod("readCounters", &DataPlaneObject::ReadCounters),
                        InstanceMethod("close", &DataPlaneObject::Close)});
  }

  // Constructed from open() only, with the plane passed as an External.
  explicit DataPlaneObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataPlaneObject>(info) {
    if (info.Length() == 1 && info[0].IsExternal()) plane_.reset(info[0].As<Napi::External<DataPlane>>().Data());
  }
  // Garbage collected without close(): the threads are stopped and the fds closed here.
  ~DataPlaneObject() override = default;

 private:
  bool Usable(const Napi::CallbackInfo& info) {
    if (plane_) return true;
    Napi::Error::New(info.Env(), "the data plane is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value SetPeers(const Napi::CallbackInfo& info) {
    if (!Usable(info)) return info.Env().Undefined();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      Napi::TypeError::New(info.Env(), "setPeers expects a Uint32Array of (network, prefix length, public IP) triples").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    Napi::Uint32Array table = info[0].As<Napi::Uint32Array>();
    std::vector<dgram::PeerRoute> routes;
    routes.reserve(table.ElementLength() / 3);
    for (size_t i = 0; i + 2 < table.ElementLength(); i += 3) {
      if (table[i + 1] > 32) continue;
      routes.push_back({table[i], static_cast<uint8_t>(table[i + 1]), table[i + 2]});
    }
    plane_->setPeers(routes);
    return info.Env().Undefined();
  }

  Napi::Value ReadCounters(const Napi::CallbackInfo& info) {
    if (!Usable(info)) return info.Env().Undefined();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[0].As<Napi::Float64Array>().ElementLength() < dgram::kCounterCount) {
      Napi::TypeError::New(info.Env(), "readCounters expects a Float64Array with room for every counter").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    plane_->readCounters(info[0].As<Napi::Float64Array>().Data());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    plane_.reset();  // joins the threads (they wake on the eventfd within microseconds)
    return info.Env().Undefined();
  }

  std::unique_ptr<DataPlane> plane_;
};

uint32_t NumberField(const Napi::Object& options, const char* name) {
  Napi::Value value = options.Get(name);
  return value.IsNumber() ? value.As<Napi::Number>().Uint32Value() : 0;
}

Napi::Value Failure(Napi::Env env, const char* syscall, int error) {
  Napi::Object failure = Napi::Object::New(env);
  failure.Set("failed", true);
  failure.Set("syscall", syscall);
  const char* name = strerrorname_np(error);
  failure.Set("errno", name != nullptr ? name : "EUNKNOWN");
  failure.Set("message", strerror(error));
  return failure;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) {
    Napi::TypeError::New(env, "open expects an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object options = info[0].As<Napi::Object>();
  dgram::DataPlaneConfig config;
  config.tunName = options.Get("tunName").ToString().Utf8Value();
  config.bindAddress = NumberField(options, "bindAddress");
  config.port = static_cast<uint16_t>(NumberField(options, "port"));
  config.ownNetwork = NumberField(options, "ownNetwork");
  config.ownPrefixLength = static_cast<uint8_t>(NumberField(options, "ownPrefixLength") > 32 ? 32 : NumberField(options, "ownPrefixLength"));
  config.offloads = options.Get("offloads").ToBoolean();
  config.persist = options.Get("persist").ToBoolean();
  config.queues = options.Get("queues").IsNumber() ? static_cast<int>(NumberField(options, "queues")) : 1;
  std::unique_ptr<DataPlane> plane;
  if (dgram::SysError error = DataPlane::open(config, &plane)) return Failure(env, error.syscall, error.error);
  const dgram::Features& features = plane->features();
  Napi::Object featureObject = Napi::Object::New(env);
  featureObject.Set("vnetHdr", features.vnetHdr);
  featureObject.Set("tunOffload", features.tunOffload);
  featureObject.Set("udpGso", features.udpGso);
  featureObject.Set("udpGro", features.udpGro);
  featureObject.Set("threads", features.threads);
  Napi::FunctionReference* constructor = env.GetInstanceData<Napi::FunctionReference>();
  Napi::Object object = constructor->New({Napi::External<DataPlane>::New(env, plane.release())});
  object.Set("features", featureObject);
  return object;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // One constructor per environment (the main thread and any worker that loads the addon).
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(DataPlaneObject::Define(env))));
  Napi::Array names = Napi::Array::New(env, dgram::kCounterCount);
  for (uint32_t i = 0; i < dgram::kCounterCount; i++) names.Set(i, dgram::kCounterNames[i]);
  exports.Set("counterNames", names);
  exports.Set("open", Napi::Function::New(env, Open));
  return exports;
}

}  // namespace

NODE_API_MODULE(dgram_native, Init)
