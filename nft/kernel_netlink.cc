#include "nft/kernel_netlink.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "nft/batch_builder.h"
#include "nft/netlink_socket.h"
#include "nft/render.h"
#include "nft/set_codec.h"

namespace nft {
namespace {

using Clock = std::chrono::steady_clock;
// A dump that keeps being interrupted (by other writers, or by a set resizing in the
// background) gives up after this many tries, pausing before each retry: 5 ms, doubling,
// at most kDumpPauseMax (about 1.3 s in all).
constexpr int kDumpAttempts = 10;
constexpr std::chrono::milliseconds kDumpPause{5};
constexpr std::chrono::milliseconds kDumpPauseMax{250};
// How many foreign objects dump() names in its error.
constexpr std::size_t kForeignShown = 5;

std::chrono::microseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

std::string describe(const nl::Ack& ack) {
  std::string text = std::strerror(-ack.error);
  return ack.message.empty() ? text : text + " (" + ack.message + ")";
}

// The first refused message of the batch (by position), else a batch-level refusal
// (reported against BATCH_BEGIN: a stale generation, or a commit-time check).
Status outcome(const Batch& batch, const std::vector<nl::Ack>& acks, const Transaction& tx) {
  const BatchMessage* failed = nullptr;
  const nl::Ack* failed_ack = nullptr;
  const nl::Ack* batch_ack = nullptr;
  std::size_t acked = 0;
  for (const nl::Ack& ack : acks) {
    const BatchMessage* m = batch.find(ack.seq);
    if (m == nullptr) {
      continue;  // a leftover from an earlier conversation
    }
    ++acked;
    if (ack.error == 0) {
      continue;
    }
    if (!m->op_index) {
      batch_ack = &ack;
    } else if (failed == nullptr || m->offset < failed->offset) {
      failed = m, failed_ack = &ack;
    }
  }
  if (failed != nullptr) {
    std::size_t i = *failed->op_index;
    Error e = make_error(
        nl::errc_of(failed_ack->error),
        "kernel refused `" + render_op(tx.table, tx.ops[i]) + "`: " + describe(*failed_ack));
    e.op_index = i;
    return e;
  }
  if (batch_ack != nullptr) {
    if (-batch_ack->error == ERESTART) {
      return make_error(Errc::conflict,
                        "the ruleset changed since it was last read (generation id moved); "
                        "nothing was applied: re-read the table and re-plan");
    }
    return make_error(nl::errc_of(batch_ack->error),
                      "kernel refused the batch: " + describe(*batch_ack));
  }
  if (acked + 2 < batch.messages.size()) {  // begin and end are not acknowledged
    return make_error(Errc::io, "only " + std::to_string(acked) + " of " +
                                    std::to_string(batch.messages.size() - 2) +
                                    " acknowledgements arrived; the outcome is unknown");
  }
  return Status::ok();
}

template <class Ptr, class Parse>
Status parse_into(const nlmsghdr* nlh, Ptr& object, Parse parse, const char* what) {
  if (parse(nlh, object.get()) < 0) {
    return make_error(Errc::io, std::string("cannot parse a ") + what + " message");
  }
  return Status::ok();
}

}  // namespace

KernelNetlink::KernelNetlink(std::unique_ptr<nl::Socket> socket, KernelNetlinkOptions options)
    : socket_(std::move(socket)), options_(options) {}

std::uint32_t KernelNetlink::portid() const {
  return socket_->portid();
}

KernelNetlink::~KernelNetlink() = default;

Result<std::unique_ptr<KernelNetlink>> KernelNetlink::open(KernelNetlinkOptions options) {
  auto socket = nl::Socket::open();
  if (!socket) {
    return socket.error();
  }
  std::unique_ptr<KernelNetlink> k(new KernelNetlink(std::move(socket).value(), options));
  if (options.check_generation) {
    if (Status s = k->probe_batch_generation(); !s) {
      return s.error();
    }
  }
  return k;
}

// An empty batch with a wrong NFNL_BATCH_GENID: a kernel that knows the attribute
// refuses it with ERESTART; one that does not accepts it silently (and changes nothing).
Status KernelNetlink::probe_batch_generation() {
  auto current = generation();
  if (!current) {
    return current.error();
  }
  Batch probe = build_empty_batch(socket_->take_seqs(2), current.value() + 0x40000000u);
  if (Status s = socket_->send(probe.bytes); !s) {
    return s;
  }
  auto acks = socket_->drain_acks();
  if (!acks) {
    return acks.error();
  }
  for (const nl::Ack& ack : acks.value()) {
    genid_supported_ =
        genid_supported_ || (probe.find(ack.seq) != nullptr && -ack.error == ERESTART);
  }
  return Status::ok();
}

Result<std::uint32_t> KernelNetlink::generation() {
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(socket_->request_buffer(), NFT_MSG_GETGEN, AF_UNSPEC,
                                        NLM_F_ACK, socket_->next_seq());
  nl::GenPtr gen(nftnl_gen_alloc());
  Status s = socket_->request(nlh, [&](const nlmsghdr* reply) {
    return parse_into(reply, gen, nftnl_gen_nlmsg_parse, "generation");
  });
  if (!s) {
    return s.error();
  }
  if (!nftnl_gen_is_set(gen.get(), NFTNL_GEN_ID)) {
    return make_error(Errc::io, "the kernel sent no generation id");
  }
  return nftnl_gen_get_u32(gen.get(), NFTNL_GEN_ID);
}

Result<std::map<std::string, SetType>> KernelNetlink::set_types(const Transaction& tx) {
  std::map<std::string, SetType> types;
  for (const std::string& name : sets_needing_types(tx)) {
    nl::SetPtr request(nftnl_set_alloc());
    nftnl_set_set_str(request.get(), NFTNL_SET_TABLE, tx.table.c_str());
    nftnl_set_set_str(request.get(), NFTNL_SET_NAME, name.c_str());
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(socket_->request_buffer(), NFT_MSG_GETSET, NFPROTO_INET,
                                          NLM_F_ACK, socket_->next_seq());
    nftnl_set_nlmsg_build_payload(nlh, request.get());
    nl::SetPtr reply(nftnl_set_alloc());
    Status s = socket_->request(
        nlh, [&](const nlmsghdr* m) { return parse_into(m, reply, nftnl_set_nlmsg_parse, "set"); });
    if (!s && s.error().code == Errc::not_found) {
      continue;  // the batch will be refused for it, with the right op index
    }
    if (!s) {
      return s.error();
    }
    if (auto decoded = codec::decode_set(reply.get())) {
      types[name] = decoded.value().type;
    }
  }
  return types;
}

// The generation to send with the batch (nullopt: no check).
Result<std::optional<std::uint32_t>> KernelNetlink::prepare_generation(KernelApplyStats& stats) {
  if (!options_.check_generation) {
    return std::optional<std::uint32_t>();
  }
  if (!generation_ || !genid_supported_) {
    auto now = generation();
    if (!now) {
      return now.error();
    }
    if (generation_ && *generation_ != now.value()) {
      generation_.reset();
      return make_error(Errc::conflict,
                        "the ruleset changed since it was last read; nothing was applied");
    }
    generation_ = now.value();
  }
  stats.generation_checked = generation_;
  return genid_supported_ ? generation_ : std::optional<std::uint32_t>();
}

Status KernelNetlink::apply(const Transaction& transaction) {
  apply_stats_ = {};
  if (transaction.empty()) {
    return Status::ok();
  }
  Clock::time_point start = Clock::now();
  auto types = set_types(transaction);
  if (!types) {
    return types.error();
  }
  auto generation = prepare_generation(apply_stats_);
  if (!generation) {
    return generation.error();
  }
  BatchOptions options{.first_seq = socket_->take_seqs(0),
                       .generation = generation.value(),
                       .existing_set = [&](const std::string& name) -> std::optional<SetType> {
                         auto it = types.value().find(name);
                         return it != types.value().end() ? std::optional(it->second)
                                                          : std::nullopt;
                       }};
  auto batch = build_batch(transaction, options);
  if (!batch) {
    return batch.error();
  }
  socket_->take_seqs(batch.value().messages.size());
  apply_stats_.build_time = since(start);
  return send_batch(batch.value(), transaction);
}

Status KernelNetlink::send_batch(const Batch& batch, const Transaction& transaction) {
  Clock::time_point start = Clock::now();
  apply_stats_.messages = batch.messages.size();
  apply_stats_.elements = batch.elements;
  apply_stats_.bytes = batch.bytes.size();
  if (Status s = socket_->size_for(batch.bytes.size(), batch.messages.size()); !s) {
    return s;
  }
  if (Status s = socket_->send(batch.bytes); !s) {
    return s;
  }
  apply_stats_.sendmsg_calls = 1;
  auto acks = socket_->drain_acks();
  apply_stats_.kernel_time = since(start);
  if (!acks) {
    generation_.reset();
    return acks.error();
  }
  apply_stats_.acks = acks.value().size();
  Status result = outcome(batch, acks.value(), transaction);
  if (!result) {
    if (result.error().code == Errc::conflict || result.error().code == Errc::io) {
      generation_.reset();
    }
    return result;
  }
  if (generation_ && genid_supported_) {
    ++*generation_;  // our commit, checked against the generation we sent
  } else if (generation_) {
    auto after = generation();  // old kernels: compare before and after
    apply_stats_.concurrent_change = !after || after.value() != *generation_ + 1;
    generation_ = after ? std::optional(after.value()) : std::nullopt;
  }
  return Status::ok();
}

Result<Program> KernelNetlink::dump(std::string_view table) {
  auto read = read_table(table);
  if (!read) {
    return read.error();
  }
  const ReadBack& r = read.value();
  if (!r.foreign.empty()) {
    std::string what;
    for (std::size_t i = 0; i < r.foreign.size() && i < kForeignShown; ++i) {
      what += (i > 0 ? "; " : "") + r.foreign[i];
    }
    return make_error(Errc::conflict, "table " + std::string(table) + " holds " +
                                          std::to_string(r.foreign.size()) +
                                          " object(s) nftpolicy did not write: " + what);
  }
  return std::move(read).value().program;
}

Result<ReadBack> KernelNetlink::read_table(std::string_view table) {
  Clock::time_point start = Clock::now();
  dump_stats_ = {};
  std::chrono::milliseconds pause = kDumpPause;
  for (int attempt = 1; attempt <= kDumpAttempts; ++attempt) {
    dump_stats_.attempts = static_cast<std::size_t>(attempt);
    if (attempt > 1) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, kDumpPauseMax);
    }
    auto before = generation();
    if (!before) {
      return before.error();
    }
    bool interrupted = false;
    auto read = read_once(table, interrupted);
    auto after = generation();
    if (!read || !after) {
      return !read ? read.error() : after.error();
    }
    if (!interrupted && before.value() == after.value()) {
      generation_ = after.value();
      dump_stats_.time = since(start);
      return read;
    }
  }
  return make_error(Errc::conflict, "the ruleset kept changing while reading table " +
                                        std::string(table) + " (" +
                                        std::to_string(dump_stats_.repeated_elements) +
                                        " set elements read twice)");
}

}  // namespace nft
