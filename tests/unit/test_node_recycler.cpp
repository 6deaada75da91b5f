#include "node_recycler.hpp"

#include <gtest/gtest.h>

#include <string>
#include <unordered_map>

namespace ntbridge {
namespace {

using Map = std::unordered_map<int, std::string>;

TEST(NodeRecycler, PutAndTakeKeepTheMapRight) {
  Map map;
  NodeRecycler<Map> nodes;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) nodes.Put(map, i, "value " + std::to_string(i + round));
    ASSERT_EQ(map.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(map.at(i), "value " + std::to_string(i + round));
    for (int i = 0; i < 100; ++i)
      EXPECT_EQ(nodes.Take(map, map.find(i)), "value " + std::to_string(i + round));
    EXPECT_TRUE(map.empty());
  }
}

TEST(NodeRecycler, ReusedNodesKeepNoOldValueAndPutAssignsAnExistingKey) {
  Map map;
  NodeRecycler<Map> nodes;
  nodes.Put(map, 1, std::string(100, 'a'));
  nodes.Take(map, map.find(1));
  nodes.Put(map, 2, "b");  // reuses the node of key 1
  nodes.Put(map, 2, "c");  // a spare node meets an existing key: assign, keep the node
  nodes.Put(map, 3, "d");
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.count(1), 0u);
  EXPECT_EQ(map.at(2), "c");
  EXPECT_EQ(map.at(3), "d");
}

}  // namespace
}  // namespace ntbridge
