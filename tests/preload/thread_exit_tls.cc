// C++ half of thread_exit: thread_local objects whose destructors allocate and free, including
// one that is first constructed inside another thread_local's destructor (so it is destroyed
// late in thread exit). Counts completed destructors for the C driver.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::atomic<int> g_late_dtors{0};

void die(const char* what) {
  fprintf(stderr, "thread_exit_tls: %s\n", what);
  _Exit(1);
}

struct Late {
  std::vector<std::string> words;
  ~Late() {
    if (words.size() != 2 || words[0] != words[1]) die("Late corrupted");
    std::vector<std::string> copy(words.begin(), words.end());  // allocate during teardown
    copy.resize(50, std::string(300, 'z'));
    void* big = malloc(256 << 10);
    if (big == nullptr) die("malloc failed in thread_local destructor");
    memset(big, 1, 256 << 10);
    free(big);
    g_late_dtors.fetch_add(1);
  }
};

thread_local Late t_late;

struct Early {
  std::string text;
  std::vector<int> numbers;
  ~Early() {
    for (size_t i = 0; i < numbers.size(); ++i)
      if (numbers[i] != static_cast<int>(i)) die("Early corrupted");
    // First use of t_late happens here: its constructor and destructor run during thread exit.
    t_late.words.push_back(text + "-late");
    t_late.words.push_back(text + "-late");
  }
};

thread_local Early t_early;

}  // namespace

extern "C" void tls_exercise(int seed) {
  t_early.text.assign(static_cast<size_t>(100 + seed % 500), static_cast<char>('a' + seed % 26));
  for (int i = 0; i < 1000 + seed % 3000; ++i) t_early.numbers.push_back(i);
}

extern "C" int tls_dtor_count(void) { return g_late_dtors.load(); }
