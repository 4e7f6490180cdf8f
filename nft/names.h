// Names of kernel objects in the table we own, and what the `nft` text syntax accepts.
#pragma once

#include <string_view>

#include "nft/result.h"

namespace nft {

// The only table family we use: one `inet` table sees IPv4 and IPv6.
inline constexpr std::string_view kTableFamily = "inet";
inline constexpr std::string_view kDefaultTable = "nftpolicy";

// NFT_NAME_MAXLEN (256) includes the terminating NUL.
inline constexpr std::size_t kMaxNameLength = 255;
// IFNAMSIZ (16) includes the terminating NUL.
inline constexpr std::size_t kMaxIfnameLength = 15;
// nft(8) limits rule comments to NFT_USERDATA_MAXLEN / 2 = 128 bytes.
inline constexpr std::size_t kMaxCommentLength = 128;

// A table, set, map or chain name is valid iff the kernel accepts it AND `nft -f` can
// parse it back unquoted: [A-Za-z_][A-Za-z0-9_-]*, at most 255 bytes, and not one of
// nft's keywords (`nft` cannot parse `chain fwd {` or `set tcp {`; it does not accept
// quoted object names either). Names with a '-' in them such as "pod-1a2b" are always
// safe unless they are one of the few dashed keywords ("auto-merge", "frag-off", …).
Status check_name(std::string_view name);
bool is_nft_keyword(std::string_view word);

// Interface names (iifname/oifname) and comments are rendered in double quotes.
Status check_ifname(std::string_view name);
Status check_comment(std::string_view comment);

}  // namespace nft
