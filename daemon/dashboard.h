// The ops dashboard page (web/index.html), built into the binary.
#pragma once

namespace nightshift {
extern const char kDashboardHtml[];
}
